/** The Users page, shared by the appliance's UI and the fleet page: the accounts, and for an admin the forms to add, change and delete them. */
import { type Html, html, rows, when } from '../ui/html.js';
import type { User } from './accounts.js';

export interface UsersView {
  users: User[];
  now: Date;
  /** Whether the viewer may manage accounts (the forms are shown only then). */
  isAdmin: boolean;
  csrf: string;
  /** A line above the list: what was saved, or why not. */
  message?: string;
  /** Where the forms post to: the UI's own path of this page (`/ui/users`). */
  path?: string;
}

export function usersPage({ users, now, isAdmin, csrf, message = '', path = '/ui/users' }: UsersView): Html {
  return html`${message ? html`<p class="card" id="users-message">${message}</p>` : ''}${rows(
    ['Name', 'Role', 'Since', ''],
    users.map((u) => [
      u.name,
      u.role,
      when(u.createdAt, now),
      isAdmin && u.name !== 'admin'
        ? html`<form method="post" action="${path}/${encodeURIComponent(u.name)}/delete" data-confirm="Delete the account ${u.name}?"><input type="hidden" name="_csrf" value="${csrf}"><button class="secondary">Delete</button></form>`
        : html``,
    ]),
    { id: 'users' },
  )}
  ${isAdmin
    ? html`<section class="card"><h2>Add or change an account</h2><form method="post" action="${path}" id="user-form"><input type="hidden" name="_csrf" value="${csrf}">
      <label for="u-name">Name</label><input id="u-name" name="name" required pattern="[a-z0-9._-]{1,64}">
      <label for="u-role">Role</label><select id="u-role" name="role"><option>viewer</option><option>operator</option><option>admin</option></select>
      <label for="u-password">Password (at least 10 characters)</label><input id="u-password" name="password" type="password" required minlength="10">
      <p><button>Save</button></p></form></section>`
    : html`<p class="muted">Only an admin manages accounts.</p>`}`;
}
