/** CORS as the original: players and editors on other origins read everything. */
export const CORS_HEADER = Object.freeze({ name: 'access-control-allow-origin', value: '*' })
