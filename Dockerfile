# Steward: multi-stage build, slim non-root runtime.
FROM rust:1.89-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libpq-dev cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
COPY migrations ./migrations
RUN cargo build --release --locked --bin steward

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin steward \
 && mkdir -p /data && chown steward:steward /data
COPY --from=build /src/target/release/steward /usr/local/bin/steward
USER steward
WORKDIR /data
VOLUME ["/data"]
# Inside a container the listeners must leave loopback; publish only the
# Frontend API port publicly and keep the Backend API on a private network.
ENV STEWARD__DATABASE__URL=sqlite:///data/steward.db \
    STEWARD__SERVER__FRONTEND_ADDR=0.0.0.0:8080 \
    STEWARD__SERVER__BACKEND_ADDR=0.0.0.0:8081 \
    STEWARD__LOG__FORMAT=json
EXPOSE 8080 8081
ENTRYPOINT ["steward"]
CMD ["serve"]
