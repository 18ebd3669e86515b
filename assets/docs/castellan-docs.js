// Starts Swagger UI on the OpenAPI document this server publishes. It is a file of its own,
// not an inline script, so that the docs page's Content-Security-Policy can refuse inline
// scripts altogether.
"use strict";

window.ui = SwaggerUIBundle({
  // Relative to the page (/docs), so the docs keep working behind a path-prefixing proxy.
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // The default would send the document to validator.swagger.io for a badge.
  validatorUrl: null,
});
