import pytest
import torch


@pytest.fixture(params=[1, 2], ids=["one worker", "two workers"])
def workers(request):
    """torch's thread count, which the threshold top-k takes as its number of workers."""
    previous = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(previous)
