# The engine's image: the API (`node dist/server.js`, which also serves the web
# app from web/dist at /), the worker (`node dist/worker.js`) and migrations
# (`node dist/migrate.js`) from one build.
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV ALLUSE_SKIP_TOOLS=1
COPY package.json package-lock.json ./
COPY scripts ./scripts
# The sources are not here yet: the web app is built below, by `npm run build`.
RUN ALLUSE_SKIP_WEB_BUILD=1 npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
# dist/ (tsc) and web/dist (Vite, a devDependency: before the prune).
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
COPY package.json ./
USER node
EXPOSE 3000
CMD ["node", "dist/server.js"]
