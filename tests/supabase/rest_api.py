"""The REST part of the stand-in (``/rest/v1``): the subset of PostgREST that supabase-py's
``table(...)`` and ``rpc(...)`` calls use, on the project's tables and functions.

As PostgREST does, every request runs in one transaction as the role its credentials grant,
with its JWT claims set, so the project's RLS policies decide; PostgreSQL writes the JSON;
SQL errors come back as ``{code, message, details, hint}`` with PostgREST's HTTP statuses.
Names are checked against the catalog; every value is a bind parameter.

Supported: ``select`` (``*`` or columns), filters ``eq neq gt gte lt lte in is`` (each with
``not.``), ``order``, ``limit``, ``offset``, ``columns``, ``Prefer: return=...``, singular
responses (``.single()``), and ``POST /rpc/<function>`` with named arguments, for functions
returning a set of rows or a scalar. Not supported: embedding, ``or``/``and``, upserts, counts.

A write returns (RETURNING) only the columns its ``select`` names, and nothing with
``return=minimal``, as PostgREST's does: on a table whose columns are granted one by one
(sessions), a user may delete a row while reading back only what they may see.
"""
from __future__ import annotations

import csv
import json

import psycopg
from psycopg import sql
from werkzeug.wrappers import Request, Response

from .project import ApiError, Project

TABLES = ("chats", "messages", "attachments", "presets", "folders", "shares", "sessions", "profiles", "app_settings", "invitations")
FUNCTIONS = ("append_messages", "append_turn", "add_reply_version", "chat_path", "show_version", "renew_lease",
             "search_chats", "end_lease", "sweep_replies", "create_session", "find_session", "touch_session", "delete_session",
             "user_sessions", "list_members", "member_usage", "member_model_usage", "claim_first_admin",
             "save_setting", "add_invitation", "running_invitations", "invitation_valid", "use_invitation", "shared_chat", "import_chats")
OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
IS_VALUES = ("null", "true", "false", "unknown")
NOT_FILTERS = ("select", "order", "limit", "offset", "columns")
SINGULAR = "application/vnd.pgrst.object+json"

# PostgREST's HTTP statuses for SQLSTATEs (its ``pgErrorStatus``); anything else is a 400.
# 42501 (insufficient privilege, RLS refusals) is 403 with a JWT and 401 without.
STATUS_BY_SQLSTATE = {"23503": 409, "23505": 409, "25006": 405, "P0001": 400, "42883": 404,
                      "42P01": 404, "42P17": 500, "53400": 500, "57P01": 503}
STATUS_BY_CLASS = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500,
                   "38": 500, "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500,
                   "57": 500, "58": 500, "F0": 500, "HV": 500, "P0": 500, "XX": 500}


class RestApi:
    def __init__(self, project: Project) -> None:
        self.project = project
        with project.connect() as db:
            rows = db.execute("select table_name, column_name from information_schema.columns"
                              " where table_schema = 'public' and table_name = any(%s)", (list(TABLES),))
            self.columns = {table: set() for table in TABLES}
            for row in rows:
                self.columns[row["table_name"]].add(row["column_name"])
            # Each function's argument names (the input ones: a RETURNS TABLE function lists its
            # columns after them) and declared types, and how many have no default.
            self.functions = {f["proname"]: f for f in db.execute(
                "select proname, coalesce(proargnames[1:pronargs], '{}') as names,"
                " pronargs - pronargdefaults as required, proretset as rows,"
                " array(select format_type(t, null) from unnest(proargtypes) t) as types"
                " from pg_proc where pronamespace = 'public'::regnamespace"
                " and proname = any(%s)", (list(FUNCTIONS),))}

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.handle(request)
        except ApiError as error:
            response = error_response(error.status, error.code, error.message)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        role, claims = self.project.credentials(request.headers)
        for header in ("Accept-Profile", "Content-Profile"):
            if request.headers.get(header, "public") != "public":
                raise ApiError(406, "PGRST106", "The schema must be one of the following: public")
        path = request.path.removeprefix("/rest/v1").strip("/")
        rpc = path.startswith("rpc/")
        verbs = {"GET": self.get, "HEAD": self.get, "POST": self.post, "PATCH": self.patch, "DELETE": self.delete}
        if rpc:
            query, params = self.call(request, path.removeprefix("rpc/"))
        elif path not in TABLES:
            raise ApiError(404, "PGRST205", f"Could not find the table 'public.{path}' in the schema cache")
        elif request.method in verbs:
            query, params = verbs[request.method](request, path)
        else:
            raise ApiError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
        singular = request.headers.get("Accept", "").startswith(SINGULAR)
        try:
            with self.project.acting_as(role, claims) as db:
                body = db.execute(query, params).fetchone()["body"]
                if singular:  # inside the transaction: PostgREST rolls back a write that fails this
                    body = single_row(body)
        except psycopg.Error as error:
            return sql_error_response(error, role)
        if rpc or request.method in ("GET", "HEAD"):
            status = 200
        elif "return=representation" in request.headers.get("Prefer", ""):
            status = 201 if request.method == "POST" else 200
        else:
            return Response(status=201 if request.method == "POST" else 204)
        content_type = SINGULAR if singular else "application/json"
        return Response(body, status=status, content_type=content_type + "; charset=utf-8")

    def get(self, request: Request, table: str) -> tuple[sql.Composable, list]:
        conditions, params = self.filters(request, table)
        rows = sql.SQL("select {} from {} where {}").format(
            self.selected(request, table), sql.Identifier("public", table), conditions)
        if "order" in request.args:
            rows += sql.SQL(" order by ") + self.order(request.args["order"], table)
        for word in ("limit", "offset"):
            if word in request.args:
                if not request.args[word].isdigit():
                    raise parse_error(word, request.args[word])
                rows += sql.SQL(f" {word} %s")
                params.append(int(request.args[word]))
        return as_json(rows), params

    def post(self, request: Request, table: str) -> tuple[sql.Composable, list]:
        """An insert of one row or many: the columns are the ``columns`` parameter (which
        postgrest-py sends with a list of rows) or the body's keys; missing values are null."""
        body = request_json(request)
        rows = body if isinstance(body, list) else [body]
        if "columns" in request.args:
            names = [name.strip('"') for name in request.args["columns"].split(",")]
        else:
            names = list(dict.fromkeys(key for row in rows if isinstance(row, dict) for key in row))
        target, columns = sql.Identifier("public", table), self.payload_columns(table, names)
        insert = sql.SQL("insert into {t} ({c}) select {c} from json_populate_recordset(null::{t}, %s)"
                         " returning {r}").format(t=target, c=columns, r=self.returning(request, table))
        return as_json(CHANGED, insert), [json.dumps(rows)]

    def patch(self, request: Request, table: str) -> tuple[sql.Composable, list]:
        body = request_json(request)
        target = sql.Identifier("public", table)
        columns = self.payload_columns(table, list(body) if isinstance(body, dict) else [])
        conditions, params = self.filters(request, table, required="UPDATE")
        update = sql.SQL("update {t} set ({c}) = (select {c} from json_populate_record(null::{t}, %s))"
                         " where {w} returning {r}").format(t=target, c=columns, w=conditions,
                                                            r=self.returning(request, table))
        return as_json(CHANGED, update), [json.dumps(body), *params]

    def delete(self, request: Request, table: str) -> tuple[sql.Composable, list]:
        conditions, params = self.filters(request, table, required="DELETE")
        delete = sql.SQL("delete from {} where {} returning {}").format(
            sql.Identifier("public", table), conditions, self.returning(request, table))
        return as_json(CHANGED, delete), params

    def call(self, request: Request, name: str) -> tuple[sql.Composable, list]:
        """``POST /rpc/<name>``: the function called with the body's named arguments, read
        through ``json_to_record`` with their declared types, as PostgREST passes them."""
        if request.method != "POST":
            raise ApiError(405, "PGRST101", "Only POST calls functions in this stand-in")
        arguments = request_json(request)
        function = self.functions.get(name)
        given = list(arguments) if isinstance(arguments, dict) else []
        if (function is None or not set(given) <= set(function["names"])
                or not set(function["names"][:function["required"]]) <= set(given)):
            raise ApiError(404, "PGRST202", f"Could not find the function public.{name}({', '.join(sorted(given))})"
                                            " in the schema cache")
        types = dict(zip(function["names"], function["types"]))  # from the catalog, not the request
        record = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(arg), sql.SQL(types[arg])) for arg in given)
        named = sql.SQL(", ").join(sql.SQL("{a} => args.{a}").format(a=sql.Identifier(arg)) for arg in given)
        if not given:  # no arguments: no record to read them from (an empty one is no SQL)
            record, arguments = sql.SQL("unused int"), {}
        if not function["rows"]:  # a scalar (or void) function: PostgREST answers its bare value
            value = sql.SQL("select coalesce(to_json({}({}))::text, 'null') as body from json_to_record(%s) as args({})")
            return value.format(sql.Identifier("public", name), named, record), [json.dumps(arguments)]
        rows = sql.SQL("select result.* from json_to_record(%s) as args({}), {}({}) as result").format(
            record, sql.Identifier("public", name), named)
        return as_json(rows), [json.dumps(arguments)]

    def checked(self, table: str, name: str) -> str:
        if name not in self.columns[table]:
            raise ApiError(400, "42703", f"column {table}.{name} does not exist")
        return name

    def payload_columns(self, table: str, names: list[str]) -> sql.Composable:
        if not names:
            raise ApiError(400, "PGRST102", "Empty or invalid json")
        for name in names:
            if name not in self.columns[table]:
                raise ApiError(400, "PGRST204", f"Could not find the '{name}' column of '{table}' in the schema cache")
        return sql.SQL(", ").join(map(sql.Identifier, names))

    def selected(self, request: Request, table: str) -> sql.Composable:
        """The ``select`` parameter: ``*`` or a comma list of columns."""
        names = request.args.get("select", "*").split(",")
        if names == ["*"]:
            return sql.SQL("*")
        return sql.SQL(", ").join(sql.Identifier(self.checked(table, name)) for name in names)

    def returning(self, request: Request, table: str) -> sql.Composable:
        """A write's RETURNING list, as PostgREST's ``returningF``: the selected columns when
        the rows are asked back, else a constant (no column read, so no column privilege or
        SELECT policy needed), which still counts them."""
        if "return=representation" in request.headers.get("Prefer", ""):
            return self.selected(request, table)
        return sql.SQL("1")

    def filters(self, request: Request, table: str, required: str = "") -> tuple[sql.Composable, list]:
        """The query string's filters (``column=[not.]operator.value``) as one condition and
        its parameters. An UPDATE or DELETE must have one: Supabase runs pg-safeupdate."""
        conditions, params = [], []
        for name, text in request.args.items(multi=True):
            if name in NOT_FILTERS:
                continue
            column = sql.Identifier(table, self.checked(table, name))
            negated = text.startswith("not.")
            operator, _, value = text.removeprefix("not.").partition(".")
            if operator in OPERATORS:
                condition = sql.SQL("{} {} %s").format(column, sql.SQL(OPERATORS[operator]))
                params.append(value)
            elif operator == "in" and value.startswith("(") and value.endswith(")"):
                # postgrest-py quotes values holding , ( ) " \ as "..." with \-escapes.
                items = next(csv.reader([value[1:-1]], escapechar="\\", doublequote=False), [])
                placeholders = sql.SQL(", ").join(sql.Placeholder() * len(items))
                condition = sql.SQL("{} in ({})").format(column, placeholders) if items else sql.SQL("false")
                params.extend(items)
            elif operator == "is" and value in IS_VALUES:
                condition = sql.SQL("{} is {}").format(column, sql.SQL(value))
            else:
                raise parse_error("filter", text)
            conditions.append(sql.SQL("not ({})").format(condition) if negated else condition)
        if required and not conditions:
            raise ApiError(400, "21000", f"{required} requires a WHERE clause")
        return sql.SQL(" and ").join(conditions or [sql.SQL("true")]), params

    def order(self, text: str, table: str) -> sql.Composable:
        """``a.desc,b.asc.nullslast`` as the terms of an ORDER BY."""
        terms = []
        for term in text.split(","):
            name, *modifiers = term.split(".")
            if not set(modifiers) <= {"asc", "desc", "nullsfirst", "nullslast"}:
                raise parse_error("order", term)
            words = sql.SQL(" ".join(modifier.replace("nulls", "nulls ") for modifier in modifiers))
            terms.append(sql.SQL("{} {}").format(sql.Identifier(table, self.checked(table, name)), words))
        return sql.SQL(", ").join(terms)


CHANGED = sql.SQL("select * from changed")  # the rows a write returned, as RETURNING shaped them


def as_json(rows: sql.Composable, change: sql.Composable | None = None) -> sql.Composable:
    """A statement answering ``rows`` as PostgREST does: one JSON array that PostgreSQL
    writes (uuid as text, timestamptz as ISO 8601 with offset). ``change``, a write with
    RETURNING, is run first as ``changed`` for ``rows`` to read."""
    body = sql.SQL("select coalesce(json_agg(r), '[]')::text as body from ({}) r").format(rows)
    return sql.SQL("with changed as ({}) {}").format(change, body) if change else body


def request_json(request: Request):
    try:
        return json.loads(request.get_data())
    except ValueError:
        raise ApiError(400, "PGRST102", "Empty or invalid json") from None


def single_row(body: str) -> str:
    """The one row of a singular response (``.single()``); PGRST116 unless exactly one."""
    rows = json.loads(body)
    if len(rows) != 1:
        raise ApiError(406, "PGRST116", "Cannot coerce the result to a single JSON object")
    return json.dumps(rows[0])


def parse_error(what: str, text: str) -> ApiError:
    return ApiError(400, "PGRST100", f"failed to parse {what} ({text})")


def error_response(status: int, code: str, message: str, details=None, hint=None) -> Response:
    body = {"code": code, "message": message, "details": details, "hint": hint}
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")


def sql_error_response(error: psycopg.Error, role: str) -> Response:
    code = error.sqlstate or "XX000"
    if code == "42501":
        status = 401 if role == "anon" else 403
    else:
        status = STATUS_BY_SQLSTATE.get(code, STATUS_BY_CLASS.get(code[:2], 400))
    diag = error.diag
    return error_response(status, code, diag.message_primary or str(error), diag.message_detail, diag.message_hint)
