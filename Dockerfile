# Firebreak's image: FROM scratch, nothing to pull. It holds the static
# binary, a CA bundle and a passwd entry for uid 65532; the time zone
# database is embedded in the binary. Build it from a release build:
#
#   make release image-context            # dist/firebreak-linux-*, dist/image/
#   docker build -t firebreak .           # or: make image (buildah, same file)
#
# Run it with a config that sets sources' auth (Firebreak refuses to listen
# beyond loopback without it) and a volume for the bbolt file:
#
#   docker run -p 9095:9095 -v firebreak-data:/data \
#     -v $PWD/firebreak.yaml:/etc/firebreak/firebreak.yaml:ro \
#     firebreak --config=/etc/firebreak/firebreak.yaml
FROM scratch
ARG TARGETARCH=amd64
LABEL org.opencontainers.image.title="firebreak" \
      org.opencontainers.image.description="Incident-response automation engine" \
      org.opencontainers.image.source="https://github.com/firebreak/firebreak"
COPY dist/image/etc/ /etc/
COPY --chown=65532:65532 dist/image/data/ /data/
COPY dist/firebreak-linux-${TARGETARCH} /firebreak
USER 65532:65532
WORKDIR /data
VOLUME /data
EXPOSE 9095
# The arguments (CMD) are what `docker run IMAGE ARGS…` replaces: give
# --config=FILE there. The default listens on every address and therefore
# starts only once sources are configured with auth.
ENTRYPOINT ["/firebreak", "serve", "--data-dir=/data"]
CMD ["--listen=0.0.0.0:9095"]
