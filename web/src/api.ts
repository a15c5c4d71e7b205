// The one Connect client of the console, built from the stubs generated out of idl/
// at build time. Every call carries the tab's admin token.
import { createClient, ConnectError, Code, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "./gen/ferry/v1/admin_pb";
import { session } from "./session";

const auth: Interceptor = (next) => async (req) => {
  if (session.token) req.header.set("authorization", `Bearer ${session.token}`);
  return next(req);
};

export const transport = createConnectTransport({
  baseUrl: globalThis.location ? globalThis.location.origin : "http://127.0.0.1",
  useBinaryFormat: true,
  interceptors: [auth],
});

export const admin = createClient(AdminService, transport);

export { ConnectError, Code };
