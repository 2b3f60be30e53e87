/* ReDoc over the service's OpenAPI document (a file, as the CSP allows no inline script).
   Its search runs in a worker made from a blob: URL, which the CSP refuses: search is off
   (Swagger UI at /docs filters operations instead). */
Redoc.init("/openapi.json", { disableSearch: true }, document.getElementById("redoc"));
