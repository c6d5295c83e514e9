// The console's screens. Each has a title, an optional intro drawn once (forms), and a body
// drawn again on every live event. Every button acts through the API as the signed-in
// principal; the server's authority model decides, and a refusal shows its problem document.
'use strict';

(() => {
  const {
    el, status, label, table, when, api, act, announce, showAlert, refresh, views,
  } = Cordon;
  const enc = encodeURIComponent;

  function runLink(runId) {
    return el('a', { href: `#/runs/${enc(runId)}` }, el('code', {}, runId));
  }

  function reviewLink(incident) {
    return el('a', { href: `#/review/${enc(incident)}` }, `Post-incident review of ${incident}`);
  }

  async function approve(button, runId, actionId, what) {
    await act(button, async () => {
      await api('POST', `/v1/runs/${enc(runId)}/approve`, { action: actionId });
      showAlert(`Approved ${what}.`, 'info');
      announce(`Approved ${what}`);
      await refresh();
    });
  }

  /** Reject asks for a reason in a dialog, then records it. */
  function rejectDialog(runId, actionId, what) {
    const reason = el('input', { id: 'reject-reason', name: 'reason', required: true, autocomplete: 'off' });
    const confirm = el('button', { type: 'submit', class: 'danger', id: 'reject-confirm' }, 'Reject');
    const cancel = el('button', { type: 'button' }, 'Cancel');
    const dialog = el('dialog', { 'aria-labelledby': 'reject-title' },
      el('form', { class: 'stack', method: 'dialog' },
        el('h2', { id: 'reject-title' }, `Reject ${what}`),
        el('label', { for: 'reject-reason' }, 'Reason (recorded in the audit log)', reason),
        el('div', { class: 'actions' }, confirm, cancel)));
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => dialog.remove());
    dialog.querySelector('form').addEventListener('submit', (event) => {
      event.preventDefault();
      act(confirm, async () => {
        await api('POST', `/v1/runs/${enc(runId)}/reject`, { action: actionId, reason: reason.value });
        dialog.close();
        showAlert(`Rejected ${what}.`, 'info');
        announce(`Rejected ${what}`);
        await refresh();
      });
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  function answerButtons(runId, actionId, what) {
    const yes = el('button', { type: 'button', class: 'primary', id: `approve-${actionId}` }, 'Approve');
    yes.setAttribute('aria-label', `Approve ${what}`);
    yes.addEventListener('click', () => approve(yes, runId, actionId, what));
    const no = el('button', { type: 'button', class: 'danger', id: `reject-${actionId}` }, 'Reject');
    no.setAttribute('aria-label', `Reject ${what}`);
    no.addEventListener('click', () => rejectDialog(runId, actionId, what));
    return el('div', { class: 'actions' }, yes, no);
  }

  function restoreButton(runId, step, target, what) {
    const id = `restore-${runId}-${step}-${target}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const button = el('button', { type: 'button', id }, 'Restore');
    button.setAttribute('aria-label', `Restore ${what}`);
    button.addEventListener('click', () => act(button, async () => {
      const started = await api('POST', `/v1/runs/${enc(runId)}/restore`, { step, target });
      if (started.restore_run_id) {
        showAlert(`Restoring ${what}: restore run ${started.restore_run_id}.`, 'info');
        announce(`Restore of ${what} started`);
      } else {
        showAlert(`Nothing to restore for ${what}: ${started.irreversible.join('; ')}`);
      }
      await refresh();
    }));
    return button;
  }

  views.incidents = {
    title: () => 'Incidents',
    async body() {
      const runs = (await api('GET', '/v1/runs')).slice().reverse();
      if (!runs.length) return [el('p', { class: 'empty' }, 'No runs yet. Signals submitted to /v1/signals start them.')];
      const groups = new Map();
      for (const run of runs) {
        const key = run.incident ?? '';
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(run);
      }
      const parts = [];
      for (const [incident, list] of groups) {
        parts.push(el('section', { 'aria-labelledby': `incident-${incident || 'none'}` },
          el('h2', { id: `incident-${incident || 'none'}` }, incident || 'Runs outside an incident'),
          incident ? el('p', {}, reviewLink(incident)) : null,
          table(`Runs of ${incident || 'no incident'}`, ['Run', 'Playbook', 'Status', 'Actions', 'Started'],
            list.map((r) => [runLink(r.run_id), r.playbook, status(r.status), String(r.actions),
              el('span', {}, when(r.started_at), r.dry_run ? ' (dry run)' : '')]), '')));
      }
      return parts;
    },
  };

  views.runs = {
    title: (runId) => `Run ${runId}`,
    async body(runId) {
      const run = await api('GET', `/v1/runs/${enc(runId)}`);
      const facts = [
        ['Run', el('code', {}, run.run_id)],
        ['Playbook', run.playbook],
        ['Status', status(run.status)],
        ['Signal', el('code', {}, run.signal)],
        ['Incident', run.incident ? reviewLink(run.incident) : 'none'],
        ['Acting as', run.principal],
        ['Started', when(run.started_at)],
        ['Finished', run.finished_at ? when(run.finished_at) : 'not yet'],
        ['Time to contain', run.time_to_contain_ms == null ? 'not contained yet' : `${run.time_to_contain_ms} ms`],
      ];
      const rows = run.actions.map((a) => {
        const what = `${a.step} ${a.action} on ${label(a.target)}`;
        let controls = '';
        if (a.status === 'awaiting-approval') {
          controls = el('a', { href: '#/approvals' }, 'Answer in Approvals');
        } else if (['applied', 'already-applied'].includes(a.status) && Object.keys(a.restore ?? {}).length && !run.dry_run) {
          controls = restoreButton(run.run_id, a.step, label(a.target), what);
        }
        return [a.step, a.action, el('code', {}, label(a.target)), status(a.status), a.detail, controls];
      });
      return [
        el('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
        el('h2', {}, 'Actions'),
        table(`Actions of run ${run.run_id}`, ['Step', 'Action', 'Target', 'Status', 'Detail', ''], rows,
          'This run has no actions.'),
      ];
    },
  };

  views.approvals = {
    title: () => 'Approvals',
    intro: () => [el('p', { class: 'hint' }, 'Actions the authority model holds for an approver. Approving or rejecting acts as you; the model decides whether you may.')],
    async body() {
      const pending = await api('GET', '/v1/approvals');
      return [table('Actions waiting for approval',
        ['Incident', 'Run', 'Step', 'Action', 'Target', 'Approvers', 'Why', ''],
        pending.map((p) => {
          const what = `${p.step} ${p.action} on ${label(p.target)}`;
          return [p.incident ?? '', runLink(p.run_id), p.step, `${p.plugin} ${p.action} (${p.effect})`,
            el('code', {}, label(p.target)), p.approvers.join(', '), p.reason,
            answerButtons(p.run_id, p.action_id, what)];
        }), 'Nothing waits for an approval.')];
    },
  };

  views.grants = {
    title: () => 'Commander grants',
    intro() {
      const field = (id, text, attrs = {}) => el('label', { for: id }, text,
        el('input', { id, name: id, required: true, autocomplete: 'off', ...attrs }));
      const submit = el('button', { type: 'submit', class: 'primary', id: 'grant-submit' }, 'Grant');
      const form = el('form', { class: 'inline', id: 'grant-form', 'aria-labelledby': 'grant-title' },
        field('grant-incident', 'Incident'),
        field('grant-principal', 'Commander (principal)', { type: 'text' }),
        field('grant-ttl', 'For', { value: '2h', 'aria-describedby': 'grant-ttl-hint' }),
        submit);
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        act(submit, async () => {
          const body = {
            incident: form.elements['grant-incident'].value.trim(),
            principal: form.elements['grant-principal'].value.trim(),
            ttl: form.elements['grant-ttl'].value.trim(),
          };
          const answer = await api('POST', '/v1/grants', body);
          showAlert(`Granted ${answer.grant.principal} command of ${answer.grant.incident} until ${answer.grant.expires_at}.`, 'info');
          announce(`Granted ${answer.grant.principal} command of ${answer.grant.incident}`);
          await refresh();
        });
      });
      return [el('div', { class: 'panel' }, el('h2', { id: 'grant-title' }, 'Grant temporary cross-domain authority'), form,
        el('p', { id: 'grant-ttl-hint', class: 'hint' }, 'A duration such as 30m or 2h, at most the model\'s max_ttl.'))];
    },
    async body() {
      const grants = await api('GET', '/v1/grants');
      return [table('Commander grants', ['Grant', 'Incident', 'Commander', 'Granted by', 'State', ''],
        grants.map((g) => {
          let state = g.active ? `active until ${g.expires_at}` : `expired at ${g.expires_at}`;
          if (g.revoked_at) state = `revoked by ${g.revoked_by}`;
          let control = '';
          if (g.active && !g.revoked_at) {
            control = el('button', { type: 'button', class: 'danger', id: `revoke-${g.id}` }, 'Revoke');
            control.setAttribute('aria-label', `Revoke ${g.principal}'s command of ${g.incident}`);
            control.addEventListener('click', () => act(control, async () => {
              await api('DELETE', `/v1/grants/${enc(g.id)}`);
              announce(`Revoked grant ${g.id}`);
              await refresh();
            }));
          }
          return [el('code', {}, g.id), g.incident, g.principal, g.granted_by, state, control];
        }), 'No commander grants.')];
    },
  };

  async function download(incident, format, type) {
    const text = await api('GET', `/v1/incidents/${enc(incident)}/report?format=${format}`, undefined, type);
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = el('a', { href: url, download: `${incident}.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  views.review = {
    title: (incident) => `Post-incident review: ${incident}`,
    intro(incident) {
      const md = el('button', { type: 'button', id: 'download-md' }, 'Download as Markdown');
      md.addEventListener('click', () => act(md, () => download(incident, 'md', 'text/markdown')));
      const html = el('button', { type: 'button', id: 'download-html' }, 'Download as HTML');
      html.addEventListener('click', () => act(html, () => download(incident, 'html', 'text/html')));
      return [el('div', { class: 'actions' }, md, html)];
    },
    async body(incident) {
      const r = await api('GET', `/v1/incidents/${enc(incident)}/report`);
      const actionCells = (a) => [runLink(a.run_id), a.step, a.action, el('code', {}, label(a.target))];
      return [
        el('dl', { class: 'facts' },
          el('dt', {}, 'Opened'), el('dd', {}, r.opened ? el('span', {}, when(r.opened.at), ` by signal `, el('code', {}, r.opened.by_signal), ` (${r.opened.severity})`) : 'not opened for incident response'),
          el('dt', {}, 'Time to contain'), el('dd', {}, r.time_to_contain_ms == null ? 'not contained' : `${r.time_to_contain_ms} ms`),
          el('dt', {}, 'Report built'), el('dd', {}, when(r.generated_at))),
        el('h2', {}, 'Identities'),
        table('Abused identities', ['Identity', 'Status', 'Owner', 'Used by', 'Actions'],
          r.identities.map((i) => [el('code', {}, label(i.identity)), status(i.status), i.owner ?? '', i.used_by ?? '', i.actions.join(', ')]),
          'No identities.'),
        el('h2', {}, 'Waiting for approval'),
        table('Pending approvals', ['Run', 'Step', 'Action', 'Target', 'Approvers'],
          r.pending_approvals.map((p) => [...actionCells(p.action), p.approvers.join(', ')]), 'Nothing waits for an approval.'),
        el('h2', {}, 'Restorable'),
        table('Actions their owners may restore', ['Run', 'Step', 'Action', 'Target', 'Restored with', 'Owners', ''],
          r.restorable.map((x) => [...actionCells(x.action), x.restore_with, x.by.join(', '),
            restoreButton(x.action.run_id, x.action.step, label(x.action.target), `${x.action.step} ${x.action.action} on ${label(x.action.target)}`)]),
          'Nothing left to restore.'),
        el('h2', {}, 'Restored'),
        table('Restored actions', ['Run', 'Step', 'Action', 'Target', 'Restored by'],
          r.restored.map((x) => [...actionCells(x.action), x.restored_by]), 'Nothing restored.'),
        el('h2', {}, 'Irreversible'),
        table('Applied actions with no restore', ['Run', 'Step', 'Action', 'Target'],
          r.irreversible.map(actionCells), 'None.'),
        el('h2', {}, 'Runs'),
        table('Runs of the incident', ['Run', 'Kind', 'Playbook', 'Acting as', 'Status', 'Started'],
          r.runs.map((x) => [runLink(x.run_id), x.kind, x.playbook, x.principal, status(x.status), when(x.started_at)]), 'No runs.'),
        el('h2', {}, 'Commander grants'),
        table('Grants for the incident', ['Grant', 'Commander', 'Granted by', 'Until', 'Revoked'],
          r.grants.map((g) => [el('code', {}, g.id), g.principal, g.granted_by, g.expires_at, g.revoked_at ?? '']), 'No grants.'),
        el('h2', {}, 'Timeline'),
        table('Audit trail', ['When', 'Event', 'Who', 'What'],
          r.timeline.map((t) => [when(t.at), t.kind, t.principal ?? '', t.summary]), 'Nothing recorded.'),
      ];
    },
  };
})();
