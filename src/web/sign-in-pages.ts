/** The sign-in and first-start setup forms, shared by the appliance's UI and the fleet page (both under /ui). */
import { type Html, html } from '../ui/html.js';

export function login(message = '', status = ''): Html {
  return html`<section class="card"><form method="post" action="/ui/login">
    ${message ? html`<p class="error" role="alert">${message}</p>` : ''}${status ? html`<p class="muted">${status}</p>` : ''}
    <label for="name">Name</label><input id="name" name="name" autocomplete="username" required>
    <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
    <p><button>Sign in</button></p></form></section>`;
}

export function setup(token: string, message = ''): Html {
  return html`<section class="card"><p>Choose the password of the <strong>admin</strong> account. This link works once.</p>
    <form method="post" action="/ui/setup">${message ? html`<p class="error">${message}</p>` : ''}<input type="hidden" name="token" value="${token}">
    <label for="password">Password (at least 10 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="10">
    <p><button>Create the admin account</button></p></form></section>`;
}
