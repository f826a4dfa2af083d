# One image for web, worker and gpu-worker (the GPU worker adds a CUDA torch, see docs/deploy.md).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt constraints.txt ./
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir torch==2.13.0 --index-url ${TORCH_INDEX} \
 && pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY . .
RUN PAIRRATE_SECRET_KEY=build python manage.py collectstatic --noinput
EXPOSE 8000
# Workers, bind and timeout: pairrate/gunicorn_conf.py (PAIRRATE_WEB_* settings, docs/deploy.md).
CMD ["gunicorn", "pairrate.wsgi:application", "--config", "pairrate/gunicorn_conf.py"]
