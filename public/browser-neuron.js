// Plain JavaScript on purpose: this is what any web app (React, Next, ...) would do.
const key = new URLSearchParams(location.search).get('key');
const status = document.getElementById('status');
const show = (text, cls) => { status.textContent = text; status.className = 'status ' + (cls || ''); };
const id = sessionStorage.getItem('cortex-neuron') || `tab-${crypto.randomUUID().slice(0, 8)}`;
sessionStorage.setItem('cortex-neuron', id);
const bundles = {};
let retired = false;

async function join() {
  if (!key) return show('Add ?key=pk_… to the address (a publishable key for this origin).', 'bad');
  const res = await fetch('/api/federation/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cortex-publishable-key': key },
    body: JSON.stringify({ id, slug: 'browser-demo', kind: 'web-app', version: '1.0.0', tags: ['web', 'demo'] }),
  });
  const body = await res.json();
  if (!res.ok) return show(`Refused: ${body.error.message}`, 'bad');
  let token = body.token;
  await fetch('/api/federation/stream-analytics', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ batchId: `${id}-${Date.now()}`, events: [{ kind: 'pageView', at: new Date().toISOString(), pageSlug: 'browser-demo' }] }),
  });
  // A browser cannot send headers on a WebSocket: a one-time ticket stands in for the token
  // (a token in a URL would end up in logs and histories).
  const ticket = await fetch('/api/federation/ws-ticket', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  }).then((r) => r.json());
  const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/api/federation/ws?ticket=${encodeURIComponent(ticket.ticket)}`);
  ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', revisions: {} }));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === 'synced') show(`Joined as ${id}: live on the push channel.`, 'ok');
    if (msg.type === 'token') token = msg.token;
    if (msg.type === 'push') {
      bundles[`${msg.bundle.kind}@${msg.bundle.scope}`] = msg.bundle;
      document.getElementById('config').textContent = JSON.stringify(bundles, null, 2);
      ws.send(JSON.stringify({ type: 'ack', scope: msg.bundle.scope, revision: msg.bundle.revision }));
    }
    if (msg.type === 'retire') { retired = true; show(`Retired (${msg.reason}): this tab has left the fleet.`, 'bad'); }
    if (msg.type === 'command') ws.send(JSON.stringify({ type: 'commandResult', id: msg.id, ok: true, message: 'browser tab re-applied its config' }));
  };
  ws.onclose = () => retired || show(`Disconnected (${id}); reload to join again.`, 'bad');
  setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify({ type: 'heartbeat', state: 'ok', version: '1.0.0' })), (body.heartbeatSeconds || 15) * 1000);
}
join().catch((e) => show(`Could not reach the hub: ${e}`, 'bad'));
