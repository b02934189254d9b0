// Live pokes: `GET /v1/stream` (Server-Sent Events, ADR 0071) read over fetch.
//
// The browser's EventSource cannot send an Authorization header, and a device
// token in the URL would be written to every access log on the way, so the
// stream is read with fetch and parsed here (the SSE framing: `field: value`
// lines, a blank line ends an event). A poke carries only the server's log head;
// the device then runs an ordinary sync, so a poke lost or late costs nothing
// but a later pull. The connection is reopened with backoff until `stop`.

/**
 * @typedef {{server: string, token: () => string | undefined,
 *   cursor: () => number, onPoke: (cursor: number) => void,
 *   onRefused: (status: number, code: string, message: string) => void,
 *   onState?: (connected: boolean) => void}} StreamOptions
 */

/**
 * Parse SSE text into events; returns the unparsed remainder.
 * @param {string} buffer
 * @param {(event: {event: string, data: string, id: string | null}) => void} emit
 */
export function parseFrames(buffer, emit) {
  const frames = buffer.split(/\r?\n\r?\n/);
  const rest = /** @type {string} */ (frames.pop());
  for (const frame of frames) {
    let event = "message";
    let id = null;
    const data = [];
    for (const line of frame.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (data.length) emit({ event, data: data.join("\n"), id });
  }
  return rest;
}

export class PokeStream {
  /** @param {StreamOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {AbortController | null} */
    this.controller = null;
    this.running = false;
    this.backoffMs = 500;
  }

  start() {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  stop() {
    this.running = false;
    this.controller?.abort();
  }

  /** Reconnect at once (the browser came back online). */
  nudge() {
    this.backoffMs = 500;
    this.controller?.abort();
  }

  async loop() {
    while (this.running) {
      const token = this.options.token();
      if (!token) return;
      this.controller = new AbortController();
      try {
        const response = await fetch(new URL("/v1/stream", this.options.server), {
          headers: {
            Authorization: `Bearer ${token}`,
            Accept: "text/event-stream",
            "Last-Event-ID": String(this.options.cursor()),
          },
          signal: this.controller.signal,
          cache: "no-store",
        });
        if (response.status === 401 || response.status === 403) {
          const body = await response.json().catch(() => ({}));
          this.running = false;
          this.options.onRefused(response.status, body.error ?? "unauthorized", body.message ?? "");
          return;
        }
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        this.options.onState?.(true);
        this.backoffMs = 500;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = parseFrames(buffer + value, (event) => {
            if (event.event === "poke") this.options.onPoke(JSON.parse(event.data).cursor);
          });
        }
      } catch {
        // offline, aborted, or dropped: reconnect below
      }
      this.options.onState?.(false);
      if (!this.running) return;
      await new Promise((resolve) => setTimeout(resolve, this.backoffMs * (0.5 + Math.random() / 2)));
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    }
  }
}
