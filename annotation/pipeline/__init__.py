"""A project's launch pipeline: stages that turn imported data into rating tasks.

`runner.py` drives the stages through Celery (tasks/pipeline.py); `stages.py` holds
what each stage computes, over sampling/; `artifacts.py` stores stage outputs in
media storage so any worker on any machine can pick up the next stage.
"""
