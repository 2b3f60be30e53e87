"""Server-rendered pages, templates and static assets (zh-CN first, English second)."""
