# syntax=docker/dockerfile:1
# The Hangar image: one static (musl) binary at /hangar, run as a non-root user.
# The operator, the gateway and the stdio bridge are all this binary.
#
#   make docker-build IMG=ghcr.io/mcp-hangar/hangar:dev
#   docker buildx build --platform linux/amd64,linux/arm64 -t … .   # both architectures

# Alpine's Rust targets musl and links statically by default.
FROM rust:1.95-alpine AS build
# gcc/musl-dev: the C compiler and runtime for the C parts (aws-lc-sys, rustls'
# crypto, also needs cmake/make/perl); binutils: readelf for the check below;
# ca-certificates: copied into the image.
RUN apk add --no-cache gcc musl-dev cmake make perl binutils ca-certificates
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p hangar \
    && cp target/release/hangar /hangar
# Fail the build if the binary is not static: a scratch image has no loader.
RUN readelf --program-headers /hangar > /tmp/headers \
    && if grep -q INTERP /tmp/headers; then \
         echo "/hangar is dynamically linked; the image has no loader" >&2; exit 1; \
       fi

FROM scratch
# Root certificates for HTTPS to remote MCP servers, registries and OTLP collectors.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /hangar /hangar
# A numeric user, so `runAsNonRoot` can verify it without an /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/hangar"]
CMD ["--help"]
