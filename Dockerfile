FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY embeddings embeddings
COPY searchapp searchapp
# EXTRAS=s3 (no model) makes the small image of web servers and workers whose
# EMBEDDINGS_BACKEND is remote (docs/scaling.md).
ARG EXTRAS=model
RUN pip install --no-cache-dir ".[${EXTRAS}]"
COPY . .
RUN python manage.py collectstatic --noinput --verbosity 0
EXPOSE 8000
CMD ["gunicorn", "searchapp.wsgi", "--config", "deploy/gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
