// A small client of the main flows, written as the front-end team writes theirs: against the
// types `openapi-typescript` generates from openapi/openapi.json, with openapi-fetch. CI generates
// the types and runs `tsc --strict` on this file, so a change of the contract that would break
// the team's build breaks CI first. It is type-checked, not run.

import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Schemas = components["schemas"];
type Problem = Schemas["Problem"];
type Money = Schemas["Money"];

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:8080" });

/** A failed call, with the problem the service answered (RFC 9457, a stable `code`). */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
  }
}

function ok<T>(r: { data?: T; error?: Problem }): T {
  if (r.error !== undefined) throw new ApiError(r.error);
  if (r.data === undefined) throw new Error("no body");
  return r.data;
}

/** `If-Match` takes the version a read answered, quoted as the `ETag` is. */
const ifMatch = (version: number): string => `"${version}"`;

/** Each write carries its own key, so that a retry acts once. */
const key = (): string => crypto.randomUUID();

export async function logIn(username: string, password: string): Promise<string> {
  const token = ok(await api.POST("/api/v1/auth/token", { body: { grant_type: "password", username, password } }));
  return token.access_token;
}

export async function logInAsSystem(clientId: string, secret: string): Promise<string> {
  const body: Schemas["TokenRequest"] = { grant_type: "client_credentials", client_id: clientId, client_secret: secret };
  return ok(await api.POST("/api/v1/auth/token", { body })).access_token;
}

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Every fund of a year, page by page; `available` is signed (a fund can be spent beyond its budget). */
export async function fundsOf(token: string, year: number): Promise<Schemas["FundView"][]> {
  const funds: Schemas["FundView"][] = [];
  let cursor: string | undefined;
  do {
    const query: { year: number; limit: number; cursor?: string } = { year, limit: 100 };
    if (cursor !== undefined) query.cursor = cursor;
    const page = ok(await api.GET("/api/v1/funds", { params: { query }, headers: auth(token) }));
    funds.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
  return funds;
}

export const overspent = (funds: Schemas["FundView"][]): Schemas["FundView"][] =>
  funds.filter((f) => f.available.startsWith("-"));

/** A clerk files, the clerk submits, a rights officer reviews, a leader approves: four people, one case. */
export async function fileAndApprove(
  clerk: string,
  reviewer: string,
  leader: string,
  fundId: string,
  orgId: string,
  amount: Money,
): Promise<Schemas["ApplicationView"]> {
  const draft = ok(
    await api.POST("/api/v1/hardship/applications", {
      headers: { ...auth(clerk), "Idempotency-Key": key() },
      body: {
        fund_id: fundId,
        org_id: orgId,
        worker_name: "李春梅",
        id_number: "11010519491231002X",
        category: "illness",
        level: "deep",
        requested_amount: amount,
        reason: "hospital costs",
      },
    }),
  );
  const act = async (
    path:
      | "/api/v1/hardship/applications/{id}/submit"
      | "/api/v1/hardship/applications/{id}/review"
      | "/api/v1/hardship/applications/{id}/approve",
    token: string,
    current: Schemas["ApplicationView"],
    body: Schemas["ActionRequest"],
  ) =>
    ok(
      await api.POST(path, {
        params: { path: { id: current.id }, header: { "If-Match": ifMatch(current.version) } },
        headers: { ...auth(token), "Idempotency-Key": key() },
        body,
      }),
    );
  const submitted = await act("/api/v1/hardship/applications/{id}/submit", clerk, draft, {});
  const reviewed = await act("/api/v1/hardship/applications/{id}/review", reviewer, submitted, { reason: "visited" });
  const approved = await act("/api/v1/hardship/applications/{id}/approve", leader, reviewed, { approved_amount: amount });
  const status: Schemas["CaseStatus"] = approved.status;
  if (status !== "approved") throw new Error(`not approved: ${status}`);
  return approved;
}

/** The four stages of an approved item's money, then its trace. */
export async function payOut(finance: string, itemId: string, amount: Money): Promise<Schemas["TraceView"]> {
  const path = { id: itemId };
  const headers = { ...auth(finance), "Idempotency-Key": key() };
  let item = ok(await api.GET("/api/v1/items/{id}", { params: { path }, headers: auth(finance) }));
  item = ok(
    await api.POST("/api/v1/items/{id}/allocations", {
      params: { path, header: { "If-Match": ifMatch(item.version) } },
      headers,
      body: { amount },
    }),
  ).item;
  item = ok(
    await api.POST("/api/v1/items/{id}/disbursements", {
      params: { path, header: { "If-Match": ifMatch(item.version) } },
      headers: { ...auth(finance), "Idempotency-Key": key() },
      body: { amount, payee: "李春梅", method: "bank_transfer" },
    }),
  ).item;
  item = ok(
    await api.POST("/api/v1/items/{id}/uses", {
      params: { path, header: { "If-Match": ifMatch(item.version) } },
      headers: { ...auth(finance), "Idempotency-Key": key() },
      body: { amount, description: "hospital bill", voucher_no: "V-001" },
    }),
  ).item;
  const settled = ok(
    await api.POST("/api/v1/items/{id}/settlement", {
      params: { path, header: { "If-Match": ifMatch(item.version) } },
      headers: { ...auth(finance), "Idempotency-Key": key() },
      body: {},
    }),
  ).item;
  const stage: Schemas["ItemStage"] = settled.stage;
  if (stage !== "settled") throw new Error(`not settled: ${stage}`);
  const trace = ok(await api.GET("/api/v1/items/{id}/trace", { params: { path }, headers: auth(finance) }));
  // Stages are an enum and the ledger a map of signed amounts: both typed, not `string`/`never`.
  const stages: Schemas["MoneyStage"][] = trace.stages.map((s) => s.stage);
  const balances: string[] = Object.values(trace.ledger);
  if (!trace.reconciles) throw new Error(`does not reconcile: ${stages.join(",")} ${balances.join(",")}`);
  return trace;
}
