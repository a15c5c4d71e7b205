// The signed-in admin token lives in sessionStorage: it survives a reload of this tab
// and is gone when the tab closes; other tabs never see it. It is never written to
// localStorage, a cookie or the URL.
import { reactive } from "vue";
import { Role } from "./gen/ferry/v1/common_pb";

const KEY = "ferry.console.token";

export interface Identity {
  tokenId: string;
  name: string;
  role: Role;
  serverVersion: string;
}

export const session = reactive<{ token: string; who: Identity | null }>({
  token: readToken(),
  who: null,
});

function readToken(): string {
  try {
    return globalThis.sessionStorage?.getItem(KEY) ?? "";
  } catch {
    return "";
  }
}

export function setToken(token: string): void {
  session.token = token;
  try {
    if (token) globalThis.sessionStorage?.setItem(KEY, token);
    else globalThis.sessionStorage?.removeItem(KEY);
  } catch {
    /* storage disabled: the token lives in memory only */
  }
}

export function signOut(): void {
  setToken("");
  session.who = null;
}

export function isSysadmin(): boolean {
  return session.who?.role === Role.SYSADMIN;
}
