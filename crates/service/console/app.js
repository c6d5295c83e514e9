// The Cordon console: one page over the /v1 API, served by `cordon serve`.
//
// - Signing in keeps the bearer credential (an API token, or an OIDC access token got by the
//   authorization-code flow with PKCE) in sessionStorage: it lasts for the tab, is sent only to
//   this origin, and every request acts as that principal. The strict Content-Security-Policy
//   the server sends (scripts from this origin only, no inline code) guards it.
// - Everything shown is built with textContent, never as HTML from data.
// - Live updates come from /v1/events (Server-Sent Events read with fetch, so the credential
//   goes in a header), resumed with Last-Event-ID; each event refreshes the screen shown.
// - views.js holds the screens; this file the plumbing they share.
'use strict';

const Cordon = (() => {
  const TOKEN = 'cordon.token';
  const PENDING_OIDC = 'cordon.oidc';
  const state = { me: null, config: null, live: null, lastEventId: null, refreshTimer: null };

  /** An element with attributes (`on*` functions become listeners) and children. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs ?? {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
      else if (key === 'class') node.className = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A status word styled by its value. */
  function status(word) {
    const text = String(word ?? '');
    return el('span', { class: `status status-${text.replace(/[^a-z-]/gi, '-').toLowerCase()}` }, text);
  }

  /** An identity as provider:kind:id. */
  function label(identity) {
    return identity ? `${identity.provider}:${identity.kind}:${identity.id}` : '';
  }

  /** A table with a caption, column headers and rows (arrays of cells); `empty` when none. */
  function table(caption, headers, rows, empty) {
    if (!rows.length) return el('p', { class: 'empty' }, empty);
    return el('table', {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c))))));
  }

  function when(rfc3339) {
    if (!rfc3339) return '';
    const date = new Date(rfc3339);
    return Number.isNaN(date.getTime()) ? rfc3339 : el('time', { datetime: rfc3339 }, date.toLocaleString());
  }

  // ------------------------------------------------------------------------------------------
  // Messages: polite announcements for screen readers, and one alert area for errors.

  function announce(message) {
    const node = document.getElementById('announcer');
    node.textContent = '';
    // A new text node is announced even when the message repeats.
    setTimeout(() => { node.textContent = message; }, 30);
  }

  function showAlert(message, kind = 'error', fields = []) {
    const node = document.getElementById('alert');
    node.replaceChildren(el('p', {}, message));
    if (fields.length) node.append(el('ul', {}, fields.map((f) => el('li', {}, `${f.field}: ${f.message}`))));
    node.className = kind === 'info' ? 'alert info' : 'alert';
    node.hidden = false;
  }

  function clearAlert() {
    const node = document.getElementById('alert');
    node.hidden = true;
    node.replaceChildren();
  }

  // ------------------------------------------------------------------------------------------
  // The API.

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem?.detail || problem?.title || `HTTP ${status}`);
      this.status = status;
      this.problem = problem ?? {};
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN);
  }

  /** Calls the API as the signed-in principal; throws ApiError with the problem document. */
  async function api(method, path, body, accept = 'application/json') {
    const headers = { Accept: accept, Authorization: `Bearer ${token()}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
    });
    const type = response.headers.get('content-type') ?? '';
    if (!response.ok) {
      const problem = type.includes('json') ? await response.json().catch(() => ({})) : {};
      if (response.status === 401) {
        signOut('Your sign-in was refused or has expired: sign in again.');
      }
      throw new ApiError(response.status, problem);
    }
    if (accept !== 'application/json') return response.text();
    return type.includes('json') ? response.json() : response.text();
  }

  /** Shows what an API call's failure says, naming the fields at fault. */
  function failed(error) {
    if (error instanceof ApiError) {
      const title = error.problem.title ? `${error.problem.title}: ` : '';
      showAlert(`${title}${error.message} (HTTP ${error.status})`, 'error', error.problem.errors ?? []);
      announce(`Failed: ${error.message}`);
    } else {
      showAlert(`The server could not be reached: ${error.message}`);
    }
  }

  /** Runs `work` with `button` disabled, reporting failure in the alert area. */
  async function act(button, work) {
    button.disabled = true;
    clearAlert();
    try {
      await work();
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Signing in and out.

  function b64url(bytes) {
    let text = '';
    for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function random(n) {
    return b64url(crypto.getRandomValues(new Uint8Array(n)));
  }

  async function discovery(issuer) {
    const response = await fetch(`${issuer}/.well-known/openid-configuration`, { cache: 'no-store' });
    if (!response.ok) throw new Error(`the issuer's discovery document answered ${response.status}`);
    return response.json();
  }

  /** Starts the authorization-code flow with PKCE (S256) at the configured issuer. */
  async function signInWithOidc() {
    const oidc = state.config.oidc;
    const found = await discovery(oidc.issuer);
    const verifier = random(48);
    const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const flowState = random(24);
    sessionStorage.setItem(PENDING_OIDC, JSON.stringify({
      verifier, state: flowState, token_endpoint: found.token_endpoint, back: location.hash,
    }));
    const url = new URL(found.authorization_endpoint);
    const params = {
      response_type: 'code',
      client_id: oidc.client_id,
      redirect_uri: redirectUri(),
      scope: oidc.scope,
      state: flowState,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    };
    if (oidc.resource) params.resource = oidc.resource;
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    location.assign(url.toString());
  }

  function redirectUri() {
    return `${location.origin}/console/callback`;
  }

  /** Finishes the flow on /console/callback: checks state, redeems the code. */
  async function finishOidc() {
    const params = new URLSearchParams(location.search);
    const pending = JSON.parse(sessionStorage.getItem(PENDING_OIDC) ?? 'null');
    sessionStorage.removeItem(PENDING_OIDC);
    history.replaceState(null, '', `/console/${pending?.back ?? ''}`);
    if (params.get('error')) throw new Error(`the identity provider refused: ${params.get('error_description') ?? params.get('error')}`);
    if (!pending || params.get('state') !== pending.state) throw new Error('the sign-in answer does not match a sign-in started here');
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: redirectUri(),
      client_id: state.config.oidc.client_id,
      code_verifier: pending.verifier,
    });
    if (state.config.oidc.resource) form.set('resource', state.config.oidc.resource);
    const response = await fetch(pending.token_endpoint, {
      method: 'POST', body: form, headers: { Accept: 'application/json' }, cache: 'no-store',
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok || !answer.access_token) {
      throw new Error(`the token endpoint refused the code: ${answer.error_description ?? answer.error ?? response.status}`);
    }
    sessionStorage.setItem(TOKEN, answer.access_token);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN);
    state.me = null;
    stopLive();
    render();
    if (message) showAlert(message);
  }

  function signInScreen(main) {
    const input = el('input', {
      id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
      spellcheck: 'false', 'aria-describedby': 'token-hint',
    });
    const submit = el('button', { type: 'submit', class: 'primary' }, 'Sign in with the token');
    const form = el('form', {
      class: 'stack', id: 'token-form',
      onsubmit: (event) => {
        event.preventDefault();
        act(submit, async () => {
          sessionStorage.setItem(TOKEN, input.value.trim());
          input.value = '';
          await render();
        });
      },
    },
    el('label', { for: 'token' }, 'API token', input),
    el('p', { id: 'token-hint', class: 'hint' }, 'A token made by `cordon token create`. It is kept only in this tab.'),
    el('div', {}, submit));
    const parts = [el('h1', {}, 'Sign in'), el('div', { class: 'panel' }, form)];
    if (state.config?.oidc) {
      const button = el('button', { type: 'button', id: 'oidc-sign-in', class: 'primary' }, 'Sign in with your identity provider');
      button.addEventListener('click', () => act(button, signInWithOidc));
      parts.push(el('div', { class: 'panel' },
        el('p', {}, 'Or sign in at ', el('code', {}, state.config.oidc.issuer), ':'), button));
    }
    main.replaceChildren(...parts);
  }

  // ------------------------------------------------------------------------------------------
  // Live events.

  function setLive(on, text) {
    const node = document.getElementById('live');
    node.textContent = text;
    node.classList.toggle('on', on);
  }

  function stopLive() {
    state.live?.abort();
    state.live = null;
  }

  /** Reads /v1/events for as long as the session lasts, reconnecting with Last-Event-ID. */
  async function startLive() {
    stopLive();
    const controller = new AbortController();
    state.live = controller;
    let delay = 500;
    while (state.live === controller) {
      try {
        const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${token()}` };
        if (state.lastEventId) headers['Last-Event-ID'] = state.lastEventId;
        const response = await fetch('/v1/events', { headers, signal: controller.signal, cache: 'no-store' });
        if (response.status === 401) { signOut('Your sign-in has expired: sign in again.'); return; }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        setLive(true, 'Live');
        delay = 500;
        await readEvents(response.body, () => refreshSoon());
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      setLive(false, 'Reconnecting…');
      await new Promise((resolve) => { setTimeout(resolve, delay); });
      delay = Math.min(delay * 2, 10000);
    }
  }

  async function readEvents(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let isEvent = false;
        for (const line of block.split('\n')) {
          if (line.startsWith('id:')) state.lastEventId = line.slice(3).trim();
          if (line.startsWith('data:')) isEvent = true;
        }
        if (isEvent) onEvent();
      }
    }
  }

  /** Refreshes the screen shown, at most every 400 ms, and not while someone types in it. */
  function refreshSoon() {
    if (state.refreshTimer) return;
    state.refreshTimer = setTimeout(async () => {
      state.refreshTimer = null;
      const active = document.activeElement;
      if (active && ['INPUT', 'TEXTAREA', 'SELECT'].includes(active.tagName) && active.closest('[data-live]')) {
        refreshSoon();
        return;
      }
      await refresh();
    }, 400);
  }

  // ------------------------------------------------------------------------------------------
  // Routing: #/incidents, #/runs/ID, #/approvals, #/grants, #/review/INCIDENT.

  function route() {
    const [, view = 'incidents', ...rest] = location.hash.replace(/^#/, '').split('/');
    return { view, arg: rest.map(decodeURIComponent).join('/') };
  }

  /** Draws the current view's live part again, keeping focus on the same control. */
  async function refresh() {
    const region = document.querySelector('[data-live]');
    if (!region || !state.me) return;
    const focused = document.activeElement?.id;
    const { view, arg } = route();
    try {
      const fresh = await Cordon.views[view]?.body(arg);
      if (fresh && document.querySelector('[data-live]') === region) region.replaceChildren(...fresh);
      if (focused) document.getElementById(focused)?.focus();
      await approvalCount();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) failed(error);
    }
  }

  async function approvalCount() {
    const pending = await api('GET', '/v1/approvals');
    const count = document.getElementById('approval-count');
    count.textContent = pending.length ? String(pending.length) : '';
    count.setAttribute('aria-label', `${pending.length} waiting`);
  }

  /** Draws the whole page for the current route. */
  async function render() {
    const main = document.getElementById('main');
    const signedIn = Boolean(token());
    document.getElementById('nav').hidden = !signedIn;
    document.getElementById('session').hidden = !signedIn;
    if (!signedIn) {
      document.title = 'Sign in · Cordon console';
      signInScreen(main);
      return;
    }
    if (!state.me) {
      try {
        state.me = await api('GET', '/v1/whoami');
      } catch (error) {
        if (token()) failed(error);
        return;
      }
      document.getElementById('me').textContent = state.me.principal;
      startLive();
    }
    const { view, arg } = route();
    const screen = Cordon.views[view] ?? Cordon.views.incidents;
    for (const link of document.querySelectorAll('#nav a')) {
      if (link.dataset.view === (Cordon.views[view] ? view : 'incidents')) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const heading = el('h1', { id: 'title', tabindex: '-1' }, screen.title(arg));
    document.title = `${screen.title(arg)} · Cordon console`;
    const region = el('div', { 'data-live': true });
    main.replaceChildren(heading, ...(screen.intro?.(arg) ?? []), region);
    try {
      region.replaceChildren(...await screen.body(arg));
      await approvalCount();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) failed(error);
    }
    heading.focus();
  }

  async function start() {
    try {
      state.config = await (await fetch('/console/config.json', { cache: 'no-store' })).json();
    } catch {
      state.config = { oidc: null };
    }
    document.getElementById('sign-out').addEventListener('click', () => signOut());
    window.addEventListener('hashchange', () => { clearAlert(); render(); });
    if (location.pathname === '/console/callback') {
      try {
        await finishOidc();
      } catch (error) {
        showAlert(error.message);
      }
    }
    await render();
  }

  document.addEventListener('DOMContentLoaded', start);

  return {
    el, status, label, table, when, api, act, announce, showAlert, clearAlert, refresh, views: {},
  };
})();
