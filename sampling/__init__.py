"""pairrate's numeric core: curation, NSFW filtering, retrieval, de-duplication, renders.

Pure library: numpy, torch and faiss only. It must never import Django, so it can
run inside Celery workers, notebooks and its own command line (`python -m sampling`).
"""
