export * from '../oci/names.js';
