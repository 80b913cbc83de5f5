# dbaas-proxy: a static binary on distroless, as the non-root user 65532.
#
# Build (the build stage runs on the builder's platform and cross-compiles for the target):
#   docker build -t dbaas-proxy .
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v1.2.3 -t REGISTRY/dbaas-proxy:v1.2.3 --push .
#   buildah build --format docker -t dbaas-proxy .   # also podman build --format docker
# buildah and podman write OCI images by default, and the OCI format has no HEALTHCHECK: without
# --format docker the health check below is dropped (with a warning).
#
# Run, with examples/docker/config.yaml (listen 0.0.0.0:20000 with client tokens, since a
# published port reaches the container from outside its loopback; see SECURITY.md):
#   docker run --rm -p 127.0.0.1:20000:20000 --user "$(id -u):$(id -g)" \
#     -v "$PWD/examples/docker/config.yaml:/etc/dbaas-proxy/config.yaml:ro" \
#     -v "$PWD/ca.pem:/etc/dbaas-proxy/ca.pem:ro" \
#     -v "$PWD/apikey.json:/etc/dbaas-proxy/apikey.json:ro" \
#     dbaas-proxy
# The API key file must be readable by the user the container runs as. With --user as above, that
# is you: keep apikey.json mode 0600 and owned by you. Without --user the process is uid 65532:
# either chown 65532 apikey.json && chmod 0400 apikey.json, or keep it mode 0444 inside a
# directory only you can enter (chmod 0700 DIR): the bind mount reaches the file, other users of
# the host do not. Rootless podman maps uids: use --userns=keep-id with --user, or
# podman unshare chown 65532 apikey.json.
#
# The health check probes 127.0.0.1:9090, the default admin.listen, inside the container's own
# network namespace: admin.listen may stay on loopback and the config may be mounted anywhere. With
# another admin port, override it: docker run --health-cmd '["/usr/local/bin/dbaas-proxy",
# "healthcheck", "-addr", "127.0.0.1:PORT"]' ...

FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/dbaas-proxy ./cmd/dbaas-proxy

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="dbaas-proxy" \
      org.opencontainers.image.description="Local reverse proxy for the IBM Cloud Hyper Protect DBaaS Manager API that attaches access tokens" \
      org.opencontainers.image.source="https://github.com/dbaas-proxy/dbaas-proxy" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/dbaas-proxy /usr/local/bin/dbaas-proxy
USER 65532:65532
EXPOSE 20000 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/dbaas-proxy", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/dbaas-proxy"]
CMD ["-config", "/etc/dbaas-proxy/config.yaml"]
