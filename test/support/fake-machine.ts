/**
 * FAKE commands of a bootstrap target machine (a DGX Spark running Ubuntu), for the real-transport tests
 * (test/support/sshd.ts). This is not k3s, systemd or a kernel: each command records what it was asked in
 * `calls.log` and keeps its state in files of the state folder, so a test sees what a script did and whether a
 * second run did anything at all.
 *
 *   systemctl  is-active/restart of k3s (state: k3s-active; k3s-loaded: hash of config.yaml + registries.yaml as
 *              k3s read them at its last start, so a test sees whether k3s runs with what is on disk)
 *   sysctl     only kernel.apparmor_restrict_unprivileged_userns (state: sysctl-userns; absent: a kernel without it)
 *   curl       the pinned k3s install script URL gives the fake installer, any other https:// URL answers 401
 *              (a registry without login: reachable); plain http (Gitea) goes to the real curl
 *   k3s        installed by the fake installer into /usr/local/bin; `--version`, and `kubectl` answering readyz,
 *              nodes, wait, rollout status/restart, the gitea-http Service's ClusterIP, the gitea-admin Secret,
 *              `exec` into the PostgreSQL pod (a login check and ALTER ROLE against state: pg-password) and
 *              `exec` of the Gitea CLI's generate-access-token in the Gitea pod (answered by the Gitea
 *              stand-in's cliRoute, reached at the ClusterIP)
 *   nproc, uname -m, df -Pk   the machine's size (20 cores, aarch64, 4 TB free)
 *
 * Failure injection: a file `fail.<command>` holding a pattern makes the next call of that command whose
 * arguments contain the pattern fail (exit 1) and removes the file. A file `block.<command>` holding a pattern
 * makes a matching call write `blocked.<command>` and wait until `block.<command>` is gone (or 20 s pass).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GITEA_HTTP_PORT } from '../../src/endpoints.js';
import { K3S_INSTALL_SCRIPT_URL, K3S_VERSION } from '../../src/bootstrap/versions.js';

export interface FakeMachineOptions {
  /** What `kubectl get service gitea-http` answers as the ClusterIP. */
  readonly giteaIp: string;
  /** The gitea-admin Secret's username and password (state: gitea-admin-password; write() changes it). */
  readonly admin: { readonly username: string; readonly password: string };
  /** The password the gitea-postgres database user has (state: pg-password; write() changes it). */
  readonly postgresPassword?: string;
}

export interface FakeMachine {
  /** PATH folder of the fake commands (SshdOptions.stubs). */
  readonly bin: string;
  /** State folder (world-writable: the commands run as the SSH user and as root through sudo). */
  readonly state: string;
  /** Every recorded call, oldest first. */
  calls(): string[];
  /** Forgets the recorded calls. */
  clearCalls(): void;
  /** Makes the next call of `command` whose arguments contain `pattern` fail. */
  failNext(command: string, pattern: string): void;
  /** Makes the next matching call wait until release(); resolves once it waits. */
  block(command: string, pattern: string): Promise<void>;
  release(command: string): void;
  /** Sets a file of the state folder (world-writable). */
  write(name: string, content: string): void;
  /** A file of the state folder, or null. */
  read(name: string): string | null;
}

/** The head of every fake: record, then the injected failure or block. */
function prelude(state: string, name: string): string {
  return [
    '#!/bin/sh',
    `S=${state}`,
    `printf '%s\\n' "${name} $*" >> "$S/calls.log"`,
    `if [ -f "$S/fail.${name}" ]; then p=$(cat "$S/fail.${name}"); case "$*" in *"$p"*) rm -f "$S/fail.${name}"; echo "${name}: injected failure" >&2; exit 1 ;; esac; fi`,
    `if [ -f "$S/block.${name}" ]; then p=$(cat "$S/block.${name}"); case "$*" in *"$p"*) : > "$S/blocked.${name}"; i=0; while [ -f "$S/block.${name}" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done ;; esac; fi`,
  ].join('\n');
}

export function createFakeMachine(root: string, opts: FakeMachineOptions): FakeMachine {
  const bin = join(root, 'fake-bin');
  const state = join(root, 'fake-state');
  mkdirSync(bin, { recursive: true });
  mkdirSync(state, { recursive: true });
  chmodSync(root, 0o755);
  chmodSync(bin, 0o755);
  chmodSync(state, 0o777);
  writeFileSync(join(state, 'calls.log'), '', { mode: 0o666 });
  chmodSync(join(state, 'calls.log'), 0o666);
  const write = (path: string, text: string) => {
    writeFileSync(path, text);
    chmodSync(path, 0o755);
  };
  const fake = (name: string, body: string) => write(join(bin, name), `${prelude(state, name)}\n${body}\n`);
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  fake('systemctl', [
    'case "$*" in',
    `  *is-active*k3s*) [ -f "$S/k3s-active" ] ;;`,
    // What k3s reads when it starts: a restart loads the files on disk (k3s-loaded: their hash).
    `  *restart*k3s*) : > "$S/k3s-active"; cat /etc/rancher/k3s/config.yaml /etc/rancher/k3s/registries.yaml 2> /dev/null | sha256sum > "$S/k3s-loaded" ;;`,
    '  *) echo "fake systemctl: unexpected $*" >&2; exit 1 ;;',
    'esac',
  ].join('\n'));
  fake('sysctl', [
    'key=kernel.apparmor_restrict_unprivileged_userns',
    'case "$1 $2" in',
    `  "-n $key") [ -f "$S/sysctl-userns" ] || { echo "sysctl: cannot stat /proc/sys/kernel/apparmor_restrict_unprivileged_userns: No such file or directory" >&2; exit 255; }; cat "$S/sysctl-userns" ;;`,
    // -q -p FILE: apply every `key = value` of the file
    `  "-q -p") v=$(sed -n "s/^$key *= *//p" "$3"); [ -n "$v" ] && printf '%s\\n' "$v" > "$S/sysctl-userns" ;;`,
    '  *) echo "fake sysctl: unexpected $*" >&2; exit 1 ;;',
    'esac',
  ].join('\n'));
  fake('nproc', 'echo 20');
  fake('uname', 'if [ "$1" = -m ]; then echo aarch64; else exec /bin/uname "$@"; fi');
  fake('df', `printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\\n/dev/nvme0n1p2 3900000000 100000000 3800000000 3%% /\\n'`);

  // The k3s binary the fake installer puts into /usr/local/bin.
  write(join(bin, 'k3s.binary'), [
    prelude(state, 'k3s'),
    'case "$*" in',
    `  --version) echo 'k3s version ${K3S_VERSION} (fake)'; echo 'go version go1.24 (fake)' ;;`,
    `  *"get --raw /readyz"*) [ -f "$S/k3s-active" ] ;;`,
    `  *"get nodes -o name"*) [ -f "$S/k3s-active" ] && echo node/spark ;;`,
    '  *"wait --for=condition=Ready node"*) [ -f "$S/k3s-active" ] ;;',
    `  *"get service gitea-http"*) printf %s '${opts.giteaIp}' ;;`,
    '  *"rollout status"*) ;;',
    '  *"rollout restart"*) ;;',
    // The PostgreSQL pod: a login check with the password on stdin, or an ALTER ROLE on stdin.
    `  *"exec -i "*" -- sh -c "*PGPASSWORD*) [ "$(cat)" = "$(cat "$S/pg-password")" ] ;;`,
    `  *"exec -i "*" -- psql "*) sed -n "s/^ALTER ROLE .* WITH PASSWORD '\\(.*\\)';\$/\\1/p" | sed "s/''/'/g" > "$S/pg-password.new" && [ -s "$S/pg-password.new" ] && mv "$S/pg-password.new" "$S/pg-password" ;;`,
    // The Gitea CLI in the Gitea pod: generate-access-token, answered by the Gitea stand-in (its cliRoute).
    `  *"exec deployment/gitea -c gitea -- gitea admin user generate-access-token "*)`,
    '    u=; n=; sc=; raw=; prev=',
    '    for a in "$@"; do case "$prev" in --username) u=$a ;; --token-name) n=$a ;; --scopes) sc=$a ;; esac; [ "$a" = --raw ] && raw=1; prev=$a; done',
    `    t=$(/usr/bin/curl -sS --fail-with-body -X POST "http://${opts.giteaIp}:${GITEA_HTTP_PORT}/-/standin-cli/generate-access-token?username=$u&token_name=$n&scopes=$sc") || { printf '%s\\n' "$t" >&2; exit 1; }`,
    '    if [ -n "$raw" ]; then printf \'%s\\n\' "$t"; else printf \'Access token was successfully created: %s\\n\' "$t"; fi ;;',
    `  *"get secret gitea-admin"*"{.data.username}"*) printf %s '${b64(opts.admin.username)}' ;;`,
    `  *"get secret gitea-admin"*"{.data.password}"*) base64 < "$S/gitea-admin-password" | tr -d '\\n' ;;`,
    '  *) echo "fake k3s: unexpected $*" >&2; exit 1 ;;',
    'esac',
  ].join('\n'));
  // What the pinned install script does that later steps see: the binary, the uninstaller, the kubeconfig, a
  // running service. It keeps config.yaml and registries.yaml, as the real one does.
  write(join(bin, 'k3s-install.sh'), [
    prelude(state, 'k3s-install'),
    `[ "$INSTALL_K3S_VERSION" = '${K3S_VERSION}' ] || { echo "fake installer: INSTALL_K3S_VERSION=$INSTALL_K3S_VERSION" >&2; exit 1; }`,
    `printf '%s\\n' "k3s-install INSTALL_K3S_VERSION=$INSTALL_K3S_VERSION INSTALL_K3S_EXEC=$INSTALL_K3S_EXEC" >> "$S/calls.log"`,
    `install -m 0755 ${join(bin, 'k3s.binary')} /usr/local/bin/k3s`,
    `install -m 0755 ${join(bin, 'k3s-uninstall.binary')} /usr/local/bin/k3s-uninstall.sh`,
    'mkdir -p /etc/rancher/k3s',
    `printf 'apiVersion: v1\\nkind: Config\\nclusters:\\n  - name: default\\n    cluster:\\n      server: https://127.0.0.1:6443\\n' > /etc/rancher/k3s/k3s.yaml`,
    'chmod 0600 /etc/rancher/k3s/k3s.yaml',
    ': > "$S/k3s-active"',
    'cat /etc/rancher/k3s/config.yaml /etc/rancher/k3s/registries.yaml 2> /dev/null | sha256sum > "$S/k3s-loaded"',
  ].join('\n'));
  write(join(bin, 'k3s-uninstall.binary'), [
    prelude(state, 'k3s-uninstall'),
    'rm -f /usr/local/bin/k3s "$S/k3s-active"',
    'rm -rf /etc/rancher/k3s',
    'rm -f /usr/local/bin/k3s-uninstall.sh',
  ].join('\n'));
  fake('curl', [
    'out=; prev=; hit=',
    `for a in "$@"; do [ "$prev" = -o ] && out=$a; [ "$a" = '${K3S_INSTALL_SCRIPT_URL}' ] && hit=1; prev=$a; done`,
    `if [ -n "$hit" ] && [ -n "$out" ] && [ "$out" != /dev/null ]; then cp ${join(bin, 'k3s-install.sh')} "$out"; exit 0; fi`,
    // The internet (registries, GitHub) answers like a registry does without a login; Gitea gets the real curl.
    'case "$*" in *https://*) for a in "$@"; do case "$a" in *http_code*) printf 401 ;; esac; done; exit 0 ;; esac',
    'exec /usr/bin/curl "$@"',
  ].join('\n'));

  const file = (name: string) => join(state, name);
  const put = (name: string, content: string) => {
    writeFileSync(file(name), content);
    chmodSync(file(name), 0o666);
  };
  put('pg-password', opts.postgresPassword ?? '');
  put('gitea-admin-password', opts.admin.password);
  return {
    bin,
    state,
    calls: () => readFileSync(file('calls.log'), 'utf8').split('\n').filter(Boolean),
    clearCalls: () => writeFileSync(file('calls.log'), ''),
    failNext: (command, pattern) => put(`fail.${command}`, pattern),
    async block(command, pattern) {
      put(`block.${command}`, pattern);
      for (let i = 0; i < 300 && !existsSync(file(`blocked.${command}`)); i++) await new Promise((r) => setTimeout(r, 50));
      if (!existsSync(file(`blocked.${command}`))) throw new Error(`fake ${command} was never called with ${pattern}`);
    },
    release(command) {
      for (const f of [`block.${command}`, `blocked.${command}`]) rmSync(file(f), { force: true });
    },
    write: put,
    read: (name) => (existsSync(file(name)) ? readFileSync(file(name), 'utf8') : null),
  };
}

