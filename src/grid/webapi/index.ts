export { WebApiGrid, DEFAULTS as WEBAPI_DEFAULTS, type WebApiGridOptions } from './grid.js';
export { errorFromResponse, errorText, scrubCaps } from './errors.js';
