/**
 * The bounds on every encode and decode: how deep, how large, how many. Each
 * is a clear ERR_CODEC when hit (or, for a layout, a failed assertion).
 */

/** Deepest nesting of arrays, objects, Maps and Sets, on encode and on decode. */
export const MAX_DEPTH = 64

/**
 * Largest encoding the codec produces. Frames above a lane's capacity are
 * chunked by the transport; this ceiling only stops a runaway value (or a bug)
 * from allocating without end.
 */
export const MAX_ENCODED_BYTES = 1024 * 1024 * 1024

/** Largest bigint magnitude: far beyond any ballot or counter, small enough to convert quickly. */
export const MAX_BIGINT_BYTES = 8 * 1024

/** Most fields in one layout: a layout is a hot message, not a record store. */
export const MAX_LAYOUT_FIELDS = 64
