// airlock web UI: uploads with progress, live import progress (server-sent events), confirmations.
'use strict';
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';

  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }

  // A note made of text and at most one link, built as DOM nodes (never parsed as HTML).
  const say = (note, text, link) => {
    const parts = [document.createTextNode(text)];
    if (link) {
      const a = document.createElement('a');
      a.href = link.href;
      a.textContent = link.text;
      parts.push(document.createTextNode(' '), a);
    }
    note.replaceChildren(...parts);
    note.classList.toggle('error', true);
    note.setAttribute('role', 'alert');
  };
  const refusal = (status, answer) => {
    const e = answer && answer.error;
    return `refused (${status}): ${e ? `${e.code ? `${e.code}: ` : ''}${e.message ?? ''}` : ''}`;
  };

  // Uploads go in 8 MiB pieces to a resumable upload: a dropped connection is retried from the offset the
  // appliance reports; after a page reload, picking the same file again resumes where it stopped.
  const upload = document.getElementById('upload');
  if (upload) {
    const PIECE = 8 * 1024 * 1024;
    const bar = document.getElementById('upload-progress');
    const note = document.getElementById('upload-note');
    const keyOf = (file) => `airlock-upload:${file.name}:${file.size}:${file.lastModified}`;
    const api = async (method, path, body, headers) => {
      const res = await fetch(path, { method, body, headers: { 'x-csrf-token': csrf, ...headers } });
      let answer = {};
      try {
        answer = await res.json();
      } catch (err) {
        answer = { error: { message: String(err) } };
      }
      return { status: res.status, answer };
    };
    const show = (offset, size) => {
      bar.max = size;
      bar.value = offset;
      note.classList.remove('error');
      note.removeAttribute('role');
      note.textContent = `uploading ${Math.floor((100 * offset) / size)}%`;
    };
    // A piece refused because the import it fed has ended: the import's own outcome is the reason to show.
    const explain = async (importId, sent) => {
      let record;
      for (let i = 0; i < 40 && importId; i++) {
        const got = await api('GET', `/api/v1/imports/${importId}`).catch(() => undefined);
        if (got && got.status === 200) record = got.answer;
        if (!record || record.state !== 'running') break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const link = importId ? { href: `/ui/imports/${importId}`, text: `See import ${importId}` } : undefined;
      if (record && record.state === 'applied') {
        window.location.href = link.href;
        return;
      }
      bar.value = 0;
      if (record && record.state === 'failed' && record.error) say(note, `The import failed: ${record.error.code}: ${record.error.message}`, link);
      else say(note, refusal(sent.status, sent.answer), link);
    };
    upload.addEventListener('submit', async (e) => {
      e.preventDefault();
      const file = upload.querySelector('input[type=file]').files[0];
      if (!file) return;
      let session;
      const saved = window.localStorage.getItem(keyOf(file));
      if (saved) {
        const found = await api('GET', `/api/v1/uploads/${saved}`);
        if (found.status === 200) {
          session = found.answer;
          note.textContent = `resuming from byte ${session.offset}`;
        }
      }
      if (!session) {
        const created = await api('POST', '/api/v1/uploads', JSON.stringify({ size: file.size }), { 'content-type': 'application/json' });
        if (created.status !== 201) {
          say(note, refusal(created.status, created.answer));
          return;
        }
        session = created.answer;
        window.localStorage.setItem(keyOf(file), session.id);
      }
      let offset = session.offset;
      let failures = 0;
      while (offset < file.size) {
        show(offset, file.size);
        try {
          const sent = await api('PATCH', `/api/v1/uploads/${session.id}`, file.slice(offset, offset + PIECE), { 'content-type': 'application/octet-stream', 'upload-offset': String(offset) });
          if (sent.status === 200 || sent.status === 409) {
            offset = sent.answer.offset;
            failures = 0;
            continue;
          }
          window.localStorage.removeItem(keyOf(file));
          await explain(session.importId, sent);
          return;
        } catch (err) {
          failures += 1;
          // the appliance may have closed the connection because the import ended: then the upload is gone
          const gone = await api('GET', `/api/v1/uploads/${session.id}`).catch(() => undefined);
          if (gone && gone.status === 404) {
            window.localStorage.removeItem(keyOf(file));
            await explain(session.importId, gone);
            return;
          }
          note.textContent = `connection lost (${err}); retrying`;
          await new Promise((r) => setTimeout(r, Math.min(30000, 1000 * 2 ** failures)));
          const found = await api('GET', `/api/v1/uploads/${session.id}`).catch(() => undefined);
          if (found && found.status === 200) offset = found.answer.offset;
        }
      }
      if (offset >= file.size) {
        window.localStorage.removeItem(keyOf(file));
        window.location.href = `/ui/imports/${session.importId}`;
      }
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
      else say(document.getElementById('media-note'), refusal(res.status, answer));
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
