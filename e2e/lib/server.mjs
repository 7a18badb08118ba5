// Starts a cyltrace node with the demo data set on a free port, for the browser tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The binary: CYLTRACE_BIN, else the debug build `cargo test` leaves in target/. */
export function binary() {
  return process.env.CYLTRACE_BIN ?? join(root, 'target', 'debug', 'cyltrace');
}

/** A running demo node: { base, dataDir, stop() }. */
export async function startDemo() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'cyltrace-e2e-'));
  const base = `http://127.0.0.1:${port}`;
  // SQLite in the data dir, whatever database the caller's environment names.
  const env = { ...process.env, CYLTRACE_PUBLIC_URL: base, CYLTRACE_LOG: 'warn' };
  delete env.CYLTRACE_DATABASE_URL;
  const child = spawn(
    binary(),
    ['serve', '--demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`],
    { env, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited !== null) throw new Error(`cyltrace exited with ${exited} before serving`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('cyltrace did not start within 120 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    base,
    dataDir,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (exited !== null ? r() : child.on('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A bearer token for a demo login. */
export async function token(base, username) {
  const r = await fetch(`${base}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'Demo2026ok' }),
  });
  if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
  return (await r.json()).token;
}

export const screenshots = join(root, 'docs', 'screenshots');
