// airlock web UI: uploads with progress, live import progress (server-sent events), confirmations.
'use strict';
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';

  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }

  const upload = document.getElementById('upload');
  if (upload) {
    upload.addEventListener('submit', (e) => {
      e.preventDefault();
      const file = upload.querySelector('input[type=file]').files[0];
      if (!file) return;
      const bar = document.getElementById('upload-progress');
      const note = document.getElementById('upload-note');
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/v1/imports');
      xhr.setRequestHeader('content-type', 'application/octet-stream');
      xhr.setRequestHeader('x-csrf-token', csrf);
      xhr.upload.onprogress = (ev) => {
        if (ev.lengthComputable) {
          bar.max = ev.total;
          bar.value = ev.loaded;
          note.textContent = `uploading ${Math.round((100 * ev.loaded) / ev.total)}%`;
        }
      };
      xhr.onload = () => {
        let answer = {};
        try {
          answer = JSON.parse(xhr.responseText);
        } catch (err) {
          answer = { error: { message: String(err) } };
        }
        if (xhr.status === 202 && answer.id) window.location.href = `/ui/imports/${answer.id}`;
        else note.textContent = `refused (${xhr.status}): ${answer.error ? answer.error.message : xhr.responseText}`;
      };
      xhr.onerror = () => (note.textContent = 'the connection to the appliance was lost');
      xhr.send(file);
    });
  }

  const media = document.getElementById('media');
  if (media) {
    media.addEventListener('submit', async (e) => {
      e.preventDefault();
      const path = media.querySelector('select').value;
      const res = await fetch('/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ path }) });
      const answer = await res.json();
      if (res.status === 202) window.location.href = `/ui/imports/${answer.id}`;
      else document.getElementById('media-note').textContent = `refused (${res.status}): ${answer.error ? answer.error.message : ''}`;
    });
  }

  const live = document.getElementById('live');
  if (live && live.dataset.state === 'running') {
    const events = new EventSource(`/api/v1/imports/${live.dataset.id}/events`);
    events.onmessage = (m) => {
      const r = JSON.parse(m.data);
      document.getElementById('live-stage').textContent = r.stage;
      const bar = document.getElementById('live-progress');
      if (r.progress.totalBytes) {
        bar.max = r.progress.totalBytes;
        bar.value = r.progress.bytes;
      }
      document.getElementById('live-stages').replaceChildren(
        ...r.stages.map((s) => {
          const li = document.createElement('li');
          li.textContent = `${s.stage}${s.ms !== undefined ? ` (${s.ms} ms)` : ' …'}`;
          return li;
        }),
      );
      if (r.state !== 'running') {
        events.close();
        window.location.reload();
      }
    };
  }
})();
