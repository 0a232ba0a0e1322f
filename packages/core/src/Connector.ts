/**
 * The connection port's failures: what can go wrong between picking an endpoint and having a
 * connection to it. The `Connector` service itself (open a duplex byte connection
 * over TCP, TLS or a unix socket) arrives with the adapters' socket support; these errors are
 * what it, connection pools and your own transports fail with, so health checks and retries can
 * classify them.
 *
 * **Details**
 *
 * - {@link ConnectError}: opening a connection failed, with a `reason`: `"Refused"`, `"Timeout"`,
 *   `"Unreachable"`, `"Reset"` or `"Closed"`. Nothing was sent, so retrying is safe even for a
 *   non-idempotent request.
 * - {@link ConnectionRejected}: every connection to every eligible host is busy (ServiceTalk's
 *   `ConnectionRejectedException`); nothing was sent.
 * - {@link isConnectFailure}: the classifier ServiceTalk-style health checks use by default in
 *   their documentation: only connection-establishment failures count toward unhealthiness.
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * Opening a connection to `address` failed.
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectError extends Schema.TaggedError<ConnectError>()("ConnectError", {
  address: Schema.String,
  reason: Schema.Literals(["Refused", "Timeout", "Unreachable", "Reset", "Closed"]),
  detail: Schema.String
}) {
  /** Nothing reached the server, so a retry cannot duplicate the request. */
  readonly sent = false
  /** Worth retrying on another endpoint. */
  readonly retryable = true
  override get message(): string {
    return `could not connect to ${this.address}: ${this.reason.toLowerCase()}${
      this.detail === "" ? "" : ` (${this.detail})`
    }`
  }
}

/**
 * Every connection that could serve the request is busy, and no new one may be opened.
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectionRejected extends Schema.TaggedError<ConnectionRejected>()("ConnectionRejected", {
  key: Schema.String,
  hosts: Schema.Number
}) {
  /** Nothing reached a server. */
  readonly sent = false
  /** Worth retrying after a backoff. */
  readonly retryable = true
  override get message(): string {
    return `connection rejected for ${JSON.stringify(this.key)}: all connections to ${this.hosts} host${
      this.hosts === 1 ? " is" : "s are"
    } busy`
  }
}

/**
 * Whether a failure is a connection-establishment failure (a `ConnectError` or
 * `ConnectionRejected`, or any error tagged `"ConnectError"`).
 *
 * @category guards
 * @since 0.1.0
 */
export const isConnectFailure = (error: unknown): boolean =>
  Predicate.isTagged(error, "ConnectError") || Predicate.isTagged(error, "ConnectionRejected")
