/* Swagger UI over the service's OpenAPI document (a file, as the CSP allows no inline script).
   validatorUrl: null keeps the page from asking an outside validator about the document. */
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null });
