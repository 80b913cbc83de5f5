# dbaas-proxy: a static binary on distroless, as a non-root user.
#   docker build -t dbaas-proxy .
#   docker run --rm -p 127.0.0.1:20000:20000 \
#     -v $PWD/config.yaml:/etc/dbaas-proxy/config.yaml:ro \
#     -v $PWD/ca.pem:/etc/dbaas-proxy/ca.pem:ro \
#     -v $PWD/apikey.json:/etc/dbaas-proxy/apikey.json:ro \
#     dbaas-proxy
# In a container, listen must be 0.0.0.0:20000 (with inbound authentication, see SECURITY.md),
# and admin.listen 0.0.0.0:9090 for the health check below.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /dbaas-proxy ./cmd/dbaas-proxy

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="dbaas-proxy" \
      org.opencontainers.image.description="Local reverse proxy for the IBM Cloud Hyper Protect DBaaS Manager API that attaches access tokens" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /dbaas-proxy /usr/local/bin/dbaas-proxy
USER 65532:65532
EXPOSE 20000 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/dbaas-proxy", "healthcheck", "-config", "/etc/dbaas-proxy/config.yaml"]
ENTRYPOINT ["/usr/local/bin/dbaas-proxy"]
CMD ["-config", "/etc/dbaas-proxy/config.yaml"]
