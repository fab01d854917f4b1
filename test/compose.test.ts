import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * docker-compose.yml, checked without a Docker engine (none runs on the development machines):
 * scripts/check-compose.sh validates it with Debian's docker-compose (`config`, against the compose
 * schema) and then checks this project's rules. Without docker-compose this fails, saying how to
 * install it: a compose file nobody checked must not pass as checked.
 */
const root = join(import.meta.dirname, '..');
const script = join(root, 'scripts/check-compose.sh');

interface Run {
  code: number;
  out: string;
}

function checkCompose(file?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(script, file ? [file] : [], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

function requireDockerCompose(run: Run): void {
  if (run.code === 2 && /not installed/.test(run.out)) {
    throw new Error(`docker-compose is needed to validate docker-compose.yml: apt-get install -y docker-compose (.ci/run does). ${run.out.trim()}`);
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the compose file and its nginx.conf in a scratch folder (relative paths still hold), changed by `edit`. */
function variant(edit: { compose?: (text: string) => string; nginx?: (text: string) => string }): string {
  const dir = mkdtempSync(join(tmpdir(), 'check-compose-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'docker'));
  copyFileSync(join(root, 'Dockerfile'), join(dir, 'Dockerfile'));
  const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
  const nginx = readFileSync(join(root, 'docker/nginx.conf'), 'utf8');
  const changedCompose = edit.compose ? edit.compose(compose) : compose;
  const changedNginx = edit.nginx ? edit.nginx(nginx) : nginx;
  // The edit must have hit something, or the case would test the unchanged file.
  expect(changedCompose !== compose || changedNginx !== nginx).toBe(true);
  writeFileSync(join(dir, 'docker-compose.yml'), changedCompose);
  writeFileSync(join(dir, 'docker/nginx.conf'), changedNginx);
  return join(dir, 'docker-compose.yml');
}

describe('docker-compose.yml', () => {
  it('passes scripts/check-compose.sh (the compose schema, then the project rules)', async () => {
    const run = await checkCompose();
    requireDockerCompose(run);
    expect(run.out).toMatch(/check-compose: 5 services, 2 volumes: ok/);
    expect(run.code).toBe(0);
  });

  // The checker itself: each rule refuses a file that breaks it.
  it.each([
    ['an image on :latest', { compose: (t: string) => t.replace('nginx:1.30.4-alpine', 'nginx:latest') }, /proxy: image nginx:latest is not pinned/],
    ['a service without a health check', { compose: (t: string) => t.replace(/ {4}healthcheck:\n {6}# Healthy = the S3 gateway[\s\S]*?start_period: 20s\n/, '') }, /seaweedfs: no health check/],
    ['depends_on that only waits for a start', { compose: (t: string) => t.replace('condition: service_healthy', 'condition: service_started') }, /depends_on postgres without service_healthy/],
    ['a key the compose schema does not know', { compose: (t: string) => t.replace('    stop_grace_period: 75s', '    stop_grace_periodd: 75s') }, /stop_grace_periodd/],
    ['api and worker on different buckets', { compose: (t: string) => t.replace('      WORKER_HEALTH_PORT: "4001"', '      WORKER_HEALTH_PORT: "4001"\n      S3_BUCKET: elsewhere') }, /api and worker disagree on S3_BUCKET/],
    ['an nginx that passes /metrics through', { nginx: (t: string) => t.replace(/location = \/metrics \{[^}]*\}/, '') }, /proxy: .*nginx\.conf passes \/metrics through/],
  ])('refuses %s', async (_name, edit, message) => {
    const run = await checkCompose(variant(edit));
    requireDockerCompose(run);
    expect(run.out).toMatch(message);
    expect(run.code).not.toBe(0);
  });
});
