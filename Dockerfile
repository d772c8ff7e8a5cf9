# The Kinkyu image (used by docker-compose.yml): `kinkyu worker` and `kinkyu console`.
FROM python:3.11-slim
WORKDIR /app
COPY scripts/system-deps.sh scripts/
RUN apt-get update && sh scripts/system-deps.sh --runtime && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY kinkyu ./kinkyu
COPY streams ./streams
COPY notifiers ./notifiers
COPY playbooks ./playbooks
COPY templates ./templates
COPY samples ./samples
RUN pip install --no-cache-dir .
# /data is where compose mounts the volume the worker writes and the console reads: owned by the service user.
RUN mkdir -p /data && chown 65532:65532 /data
USER 65532:65532
ENV KINKYU_DATA_DIR=/tmp/kinkyu
EXPOSE 6066 6067 8080
ENTRYPOINT ["kinkyu"]
CMD ["worker"]
