"""``gensr serve``: an offline web page and HTTP API for upscaling, on one machine.

- :mod:`gensr.serve.access`: who may use it (Host and Origin checks, tokens, CORS), a middleware.
- :mod:`gensr.serve.receive`: reads an upload within the size limit (multipart or raw body).
- :mod:`gensr.serve.uploads`: checks an uploaded file before it is queued (size, format, pixels).
- :mod:`gensr.serve.jobs`: the bounded job queue, one worker thread per device, results kept in a
  temporary folder for a while and deleted.
- :mod:`gensr.serve.app`: the ASGI application (Starlette) with the page under ``static/``.

Only :mod:`gensr.serve.app` imports the web packages of the ``serve`` extra; nothing in the core
package imports this subpackage.
"""
