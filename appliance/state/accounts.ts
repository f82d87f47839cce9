/** Moved to src/web (shared with the fleet page); kept here so the appliance's imports stay as they were. */
export * from '../../src/web/accounts.js';
