# One image for the API (the default command) and the worker (`node dist/worker/main.js`).
# Build: docker build -t memory-chest .   Served mode with both: see docker-compose.yml.
# Node pinned to an exact release, one the official images list (24.19.0-bookworm-slim; the
# devDependency `node` may be a patch ahead). Bump both stages together.
FROM node:24.19.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# ffmpeg and ffprobe come from npm (@ffmpeg-installer/*, @ffprobe-installer/*): the platform
# package holds the binary and a postinstall `chmod u+x`, which package.json "allowScripts" approves
# (as it does sharp's). Never --ignore-scripts here.
RUN npm ci --no-audit --no-fund
# That postinstall makes the binary executable for its owner only, and the owner is root (npm ci
# runs as root here) while the app runs as `node`: open them to everyone, read-only. Then fail the
# build now, not at the first video, if the platform had no binary or it does not run.
RUN find node_modules/@ffmpeg-installer node_modules/@ffprobe-installer -type f \( -name ffmpeg -o -name ffprobe \) -exec chmod 0755 {} + \
 && node -e "const {execFileSync}=require('node:child_process');for(const p of ['@ffmpeg-installer/ffmpeg','@ffprobe-installer/ffprobe'])execFileSync(require(p).path,['-version'],{stdio:'ignore'})"
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:24.19.0-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000
# Owned by root and not writable by the app: the process cannot change its own code.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
# The media binaries run as the user the app runs as (the check the build stage made as root).
RUN node -e "const {execFileSync}=require('node:child_process');for(const p of ['@ffmpeg-installer/ffmpeg','@ffprobe-installer/ffprobe'])execFileSync(require(p).path,['-version'],{stdio:'ignore'})"
EXPOSE 4000
# For the API. docker-compose.yml gives the worker its own check (WORKER_HEALTH_PORT).
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:4000/readyz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "dist/src/main.js"]
