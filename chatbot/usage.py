"""What a user's replies use and cost: tokens per day, month and model (as the providers
reported them), priced from the operator's price table, and the monthly token budget,
checked before a model is asked."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from .accounts.directory import Directory, ModelUsage
from .errors import TooMany
from .models.catalog import Catalog
from .store import ChatUsage, Store

DAYS_SHOWN = 30
MONTHS_SHOWN = 12


@dataclass(frozen=True)
class Total:
    replies: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # of the replies whose model has a price
    unpriced: int = 0  # replies by a model without one: the cost leaves them out

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def plus(self, row: ModelUsage | ChatUsage, price: tuple[float, float] | None) -> Total:
        cost = (row.prompt_tokens * price[0] + row.completion_tokens * price[1]) / 1_000_000 if price else 0.0
        return Total(self.replies + row.replies, self.prompt_tokens + row.prompt_tokens,
                     self.completion_tokens + row.completion_tokens, self.cost + cost,
                     self.unpriced + (0 if price else row.replies))


@dataclass(frozen=True)
class Report:
    days: list[tuple[str, Total]]  # the last DAYS_SHOWN days with replies ("2026-11-27"), newest first
    months: list[tuple[str, Total]]  # the last MONTHS_SHOWN months with replies ("November 2026"), newest first
    models: list[tuple[str, Total]]  # this month, by model (its name as shown)
    month: Total  # this month in all
    budget: int | None  # tokens a month, if budgets are on

    @property
    def budget_used(self) -> int | None:
        """How much of the budget this month's replies used, in per cent (at most 100)."""
        if self.budget is None:
            return None
        return min(100, round(100 * self.month.tokens / self.budget)) if self.budget else 100


def report(directory: Directory, models: Catalog, user_id: str, budget: int | None, today: date) -> Report:
    rows = directory.model_usage(user_id, _months_back(today, MONTHS_SHOWN - 1))
    days: dict[date, Total] = {}
    months: dict[date, Total] = {}
    by_model: dict[str, Total] = {}
    this_month = today.replace(day=1)
    for row in rows:
        price = models.price(row.model)
        month = row.day.replace(day=1)
        months[month] = months.get(month, Total()).plus(row, price)
        if row.day > today - timedelta(days=DAYS_SHOWN):
            days[row.day] = days.get(row.day, Total()).plus(row, price)
        if month == this_month:
            name = models.label(row.model) if row.model else "unknown model"
            by_model[name] = by_model.get(name, Total()).plus(row, price)
    return Report([(day.isoformat(), total) for day, total in sorted(days.items(), reverse=True)],
                  [(f"{month:%B %Y}", total) for month, total in sorted(months.items(), reverse=True)],
                  sorted(by_model.items(), key=lambda item: -item[1].tokens), months.get(this_month, Total()), budget)


def chat_total(store: Store, models: Catalog, owner_id: str, chat_id: str) -> Total:
    """What the chat's replies used and cost, every version of them included."""
    total = Total()
    for row in store.chat_usage(owner_id, chat_id):
        total = total.plus(row, models.price(row.model))
    return total


def budget_of(directory: Directory, default: int | None, user_id: str) -> int | None:
    """The user's monthly token budget: the admin's for this user, else the server's
    (MONTHLY_TOKEN_BUDGET); None when budgets are off."""
    if default is None:
        return None
    own = directory.setting(budget_setting(user_id))
    return int(own) if own else default


def budget_setting(user_id: str) -> str:
    return f"token_budget:{user_id}"


def check_budget(directory: Directory, default: int | None, user_id: str, now: datetime | None = None) -> None:
    """Refuse (429, with when it starts again) a reply once the user's replies this month
    have used their budget. Checked before the model is asked; a reply under way finishes."""
    budget = budget_of(directory, default, user_id)
    if budget is None:
        return
    now = now or datetime.now(timezone.utc)
    month = now.date().replace(day=1)
    used = sum(row.prompt_tokens + row.completion_tokens for row in directory.model_usage(user_id, month))
    if used >= budget:
        renews = _months_back(month, -1)
        wait = (datetime.combine(renews, datetime.min.time(), timezone.utc) - now).total_seconds()
        raise TooMany(wait, f"Your replies have used this month's {budget:,} tokens. Your budget starts again on "
                            f"{renews.day} {renews:%B}.")


def _months_back(day: date, months: int) -> date:
    """The first day of the month ``months`` before ``day``'s (negative: after)."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)
