"""The Storage part of the stand-in (``/storage/v1``): uploading, downloading, listing and
removing objects as storage3's ``storage.from_(bucket)`` calls do.

As Supabase Storage does, each object is a row of ``storage.objects`` written and read as
the request's role, so the project's policies on that table decide who may upload, read or
delete what. The bytes live beside it in ``storage.standin_blobs`` (Supabase keeps them in
S3), reachable only through an object row the role can see.

Errors are answered as Supabase Storage answers them: HTTP 400 with the meaningful status
inside the body, ``{"statusCode": "404", "error": "not_found", "message": ...}``, which
storage3 raises as ``StorageApiError(message, error, statusCode)``.
"""
from __future__ import annotations

import json

from psycopg.errors import InsufficientPrivilege, UniqueViolation
from werkzeug.wrappers import Request, Response

from .project import ApiError, Project

BLOBS = """
create table if not exists storage.standin_blobs (
    object_id uuid primary key references storage.objects (id) on delete cascade,
    data bytea not null
);
grant select, insert, update on storage.standin_blobs to anon, authenticated, service_role;
"""
INSERT_OBJECT = ("insert into storage.objects (bucket_id, name, owner, metadata)"
                 " values (%s, %s, auth.uid(), %s)")
# With ``x-upsert: true``: an existing object is replaced, if the policies allow updating it.
REPLACING = (" on conflict (bucket_id, name) do update"
             " set owner = excluded.owner, metadata = excluded.metadata, updated_at = now()")


class StorageApi:
    def __init__(self, project: Project) -> None:
        self.project = project
        with project.connect() as db:
            db.execute(BLOBS)

    def __call__(self, environ, start_response):
        try:
            with Request(environ) as request:  # closes an upload's spooled file
                response = self.handle(request)
        except ApiError as error:
            body = {"statusCode": str(error.status), "error": error.code, "message": error.message}
            response = Response(json.dumps(body), status=400, content_type="application/json")
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        try:
            role, claims = self.project.credentials(request.headers)
        except ApiError as error:
            raise ApiError(403, "Unauthorized", error.message) from None
        # storage3 joins paths onto ".../storage/v1/", so tolerate doubled slashes.
        parts = [part for part in request.path.removeprefix("/storage/v1").split("/") if part]
        if parts[:1] != ["object"] or len(parts) < 2:
            raise ApiError(404, "not_found", "Route not found")
        if request.method == "DELETE" and len(parts) == 2:
            return self.remove(role, claims, parts[1], request)
        if request.method == "POST" and parts[1] == "list" and len(parts) == 3:
            return self.list(role, claims, parts[2], request)
        if request.method == "GET" and parts[1] == "authenticated":
            parts = parts[1:]
        if len(parts) < 3:
            raise object_not_found()
        bucket, name = parts[1], "/".join(parts[2:])
        if request.method == "POST":
            return self.upload(role, claims, bucket, name, request)
        if request.method == "GET":
            return self.download(role, claims, bucket, name)
        raise ApiError(405, "method_not_allowed", f"{request.method} is not supported by this stand-in")

    def upload(self, role: str, claims: dict, bucket: str, name: str, request: Request) -> Response:
        """``POST /object/{bucket}/{name}``, multipart with the bytes in ``file``."""
        file = request.files.get("file")
        if file is None:
            raise ApiError(400, "InvalidRequest", "No file in the multipart body")
        data = file.read()
        metadata = {"mimetype": file.content_type or "application/octet-stream", "size": len(data),
                    "cacheControl": f"max-age={request.form.get('cacheControl', '3600')}"}
        with self.project.connect() as db:  # Storage looks the bucket up with its own rights
            if db.execute("select from storage.buckets where id = %s", (bucket,)).fetchone() is None:
                raise ApiError(404, "Bucket not found", "Bucket not found")
        upsert = request.headers.get("x-upsert") == "true"
        insert = INSERT_OBJECT + (REPLACING if upsert else "") + " returning id"
        try:
            with self.project.acting_as(role, claims) as db:
                object_id = db.execute(insert, (bucket, name, json.dumps(metadata))).fetchone()["id"]
                db.execute("insert into storage.standin_blobs (object_id, data) values (%s, %s)"
                           " on conflict (object_id) do update set data = excluded.data", (object_id, data))
        except UniqueViolation:
            raise ApiError(409, "Duplicate", "The resource already exists") from None
        except InsufficientPrivilege:
            raise ApiError(403, "Unauthorized", "new row violates row-level security policy") from None
        return Response(json.dumps({"Key": f"{bucket}/{name}", "Id": str(object_id)}),
                        content_type="application/json")

    def download(self, role: str, claims: dict, bucket: str, name: str) -> Response:
        """``GET /object/[authenticated/]{bucket}/{name}``: the bytes, if the role may see the object."""
        with self.project.acting_as(role, claims) as db:
            found = db.execute("select o.metadata, b.data from storage.objects o"
                               " join storage.standin_blobs b on b.object_id = o.id"
                               " where o.bucket_id = %s and o.name = %s", (bucket, name)).fetchone()
        if found is None:
            raise object_not_found()
        return Response(bytes(found["data"]), content_type=found["metadata"]["mimetype"])

    def remove(self, role: str, claims: dict, bucket: str, request: Request) -> Response:
        """``DELETE /object/{bucket}`` with ``{"prefixes": [names]}``: deletes those the role may
        delete (others are silently left, as on Supabase) and answers the deleted objects."""
        try:
            names = [str(name) for name in json.loads(request.get_data())["prefixes"]]
        except (ValueError, TypeError, KeyError):
            raise ApiError(400, "InvalidRequest", "The body must be {\"prefixes\": [names]}") from None
        with self.project.acting_as(role, claims) as db:
            body = db.execute("with gone as (delete from storage.objects where bucket_id = %s"
                              " and name = any(%s) returning *)"
                              " select coalesce(json_agg(gone), '[]')::text as body from gone",
                              (bucket, names)).fetchone()["body"]
        return Response(body, content_type="application/json")


    def list(self, role: str, claims: dict, bucket: str, request: Request) -> Response:
        """``POST /object/list/{bucket}`` with ``{prefix, limit, offset, search}``: what lies
        directly in the folder ``prefix`` (files, and folders with a null id), among the
        objects the role may see, by name, as Supabase's ``storage.search`` answers. Sorting
        by anything but the name is not supported."""
        body = request.get_json(silent=True) or {}
        prefix = str(body.get("prefix") or "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"  # as Supabase: a prefix is a folder
        with self.project.acting_as(role, claims) as db:
            objects = db.execute("select id, name, created_at, updated_at, metadata from storage.objects"
                                 " where bucket_id = %s and left(name, length(%s)) = %s",
                                 (bucket, prefix, prefix)).fetchall()
        entries: dict[str, dict] = {}
        for found in objects:
            entry, _, rest = found["name"][len(prefix):].partition("/")
            if rest:  # deeper down: a folder here
                entries.setdefault(entry, {"name": entry, "id": None, "updated_at": None, "created_at": None,
                                           "last_accessed_at": None, "metadata": None})
            else:
                entries[entry] = {"name": entry, "id": str(found["id"]), "updated_at": found["updated_at"].isoformat(),
                                  "created_at": found["created_at"].isoformat(),
                                  "last_accessed_at": found["created_at"].isoformat(), "metadata": found["metadata"]}
        search = str(body.get("search") or "").lower()
        listed = sorted((e for name, e in entries.items() if name.lower().startswith(search)), key=lambda e: e["name"])
        if (body.get("sortBy") or {}).get("order") == "desc":
            listed.reverse()
        offset, limit = int(body.get("offset") or 0), int(body.get("limit") or 100)
        return Response(json.dumps(listed[offset:offset + limit]), content_type="application/json")


def object_not_found() -> ApiError:
    return ApiError(404, "not_found", "Object not found")
