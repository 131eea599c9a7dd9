# The application image: API (`orders api`), worker (`python worker.py`) and migrations.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY workflows workflows
COPY activities activities
COPY db db
COPY starter starter
COPY worker.py ./
RUN pip install --no-cache-dir . && useradd --create-home orders
USER orders
EXPOSE 8000 9464
CMD ["orders", "api"]
