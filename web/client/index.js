// The Reciprocity browser client: a device in the browser (ADR 0090).
export { Device, DeviceRefused, openDevice } from "./device.js";
export { CHANNELS, CIRCLES, GIVE_KINDS, InvalidEvent, OUTCOMES } from "./events.js";
export { Refusal, TransientError } from "./sync.js";
export { dateOf, dayOf, SummaryViews, today, Views } from "./views.js";
export { DEFAULT_LIMIT, NUDGE_KINDS, plan } from "./plan.js";
