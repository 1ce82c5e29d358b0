"""What each connector is, how an admin sets it up, and what it needs (a write key, a signing secret)."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.models import Connector


@dataclass(frozen=True)
class Guide:
    connector: str
    title: str
    summary: str
    steps: tuple[str, ...]  # `{endpoint}` stands for the endpoint's address on the tenant's host
    endpoint: str = ""  # its path on the tenant's host; empty for an import
    secret: str = ""  # "write_key" (an ingest API key) or "signing_secret" (set by the admin); empty: none
    outbound: bool = False  # Bellwether sends (its webhooks' deliveries are the calls), rather than receives


# Slack is no inbound connector: no calls of its own, no options; its guide keys on this name.
SLACK = "slack"


GUIDES: dict[str, Guide] = {
    Connector.SEGMENT: Guide(
        connector=Connector.SEGMENT, title="Segment / RudderStack",
        summary=("Product usage from Segment's or RudderStack's libraries, unchanged: group calls become accounts "
                 "(their traits: name, plan, industry, region, seats, owner email, renewal date, MRR), identify "
                 "calls the account's contacts, track, page and screen calls usage events."),
        endpoint="/api/segment", secret="write_key",
        steps=(
            "Create an API key with the ingest scope (below): it is the write key.",
            "Point the library at {endpoint} (Segment: host=..., RudderStack: dataPlaneUrl / host=...), or add "
            "it as an HTTP destination of a Segment or RudderStack workspace.",
            "Send a group call per customer account (groupId = the account's id in your CRM or billing system); "
            "calls name their account in context.groupId, or their user's last group call names it.",
            "Calls for an account Bellwether does not know yet are held and applied when it arrives.",
        ),
    ),
    Connector.STRIPE: Guide(
        connector=Connector.STRIPE, title="Stripe",
        summary=("Revenue from Stripe billing: subscriptions and paid invoices become monthly MRR snapshots "
                 "(normalised to a month, times quantity, after forever discounts; trials and free plans left out), "
                 "in the tenant's one currency. History comes from a subscriptions export (CSV)."),
        endpoint="/api/stripe/webhook", secret="signing_secret",
        steps=(
            "In Stripe: Developers → Webhooks → Add endpoint {endpoint}, with the events "
            "customer.subscription.created, customer.subscription.updated, customer.subscription.deleted "
            "and invoice.paid.",
            "Copy the endpoint's signing secret (whsec_...) and save it below. Events signed with another secret, "
            "older than 300 seconds or already applied are refused.",
            "Put the account's external id in the subscription's metadata (key below), or give accounts their "
            "Stripe customer id as external id; events of an unknown customer are held until the account exists.",
            "For history, export Billing → Subscriptions as CSV (with the metadata column) and upload it below.",
        ),
    ),
    Connector.HUBSPOT: Guide(
        connector=Connector.HUBSPOT, title="HubSpot",
        summary="Accounts, owners and renewal dates from HubSpot's companies export, by HubSpot's own column names.",
        steps=(
            "In HubSpot: Companies → Export (CSV), with the columns Record ID, Company name, Company owner, "
            "Industry, Country/Region, Lifecycle Stage, and your Renewal date, Contract start date, Plan and "
            "Seats properties if you keep them.",
            "Upload it below. Record ID becomes the account's external id; the owner is matched to a Bellwether "
            "user by email or full name. All rows are stored, or none, with every problem by line.",
        ),
    ),
    Connector.SALESFORCE: Guide(
        connector=Connector.SALESFORCE, title="Salesforce",
        summary="Accounts, owners and renewal dates from a Salesforce accounts report or Data Loader export.",
        steps=(
            "In Salesforce: an Accounts report exported as CSV (Account ID, Account Name, Account Owner, Industry, "
            "Billing Country, Type, and your Renewal Date, Contract Start Date and Seats fields), or a Data "
            "Loader export (Id, Name, Owner.Email, Industry, BillingCountry...).",
            "Upload it below. The Account ID becomes the external id; Type becomes the plan; the owner is matched "
            "by email or full name. Dates as 2026-03-01 or a US report's 3/1/2026.",
        ),
    ),
    Connector.ZENDESK: Guide(
        connector=Connector.ZENDESK, title="Zendesk",
        summary="Support tickets (created, updated, solved) and CSAT ratings from a Zendesk webhook.",
        endpoint="/api/zendesk/webhook", secret="signing_secret",
        steps=(
            "In Zendesk Admin Center: Apps and integrations → Webhooks → Create webhook, endpoint {endpoint}, "
            "method POST, format JSON; copy its signing secret and save it below.",
            "Add a trigger (ticket is created, or updated) that notifies the webhook with the body shown below. "
            "The organization's external id names the account.",
            "Each delivery is checked (X-Zendesk-Webhook-Signature, 300 s) and applied once; a good or bad "
            "satisfaction rating becomes a CSAT answer of 5 or 1.",
        ),
    ),
    Connector.INTERCOM: Guide(
        connector=Connector.INTERCOM, title="Intercom",
        summary="Conversations as support tickets (opened, first reply, closed) and their ratings as CSAT.",
        endpoint="/api/intercom/webhook", secret="signing_secret",
        steps=(
            "In the Intercom developer hub: your app → Webhooks, endpoint {endpoint}, topics "
            "conversation.user.created, conversation.admin.replied, conversation.admin.closed and "
            "conversation.rating.added.",
            "Save the app's client secret below: it signs every notification (X-Hub-Signature).",
            "A conversation's account is its contact's (the user id your product sends to the tracking API), or "
            "the conversation attribute named below.",
        ),
    ),
    SLACK: Guide(
        connector=SLACK, title="Slack (outbound)",
        summary=("Breaches and tasks posted to a Slack channel as a short, linked message (the KPI, the account, the "
                 "value against its threshold, the task inbox), through Slack's incoming webhooks."),
        secret="slack_url", outbound=True,
        steps=(
            "In Slack: create an app (or open yours) → Incoming Webhooks → Add New Webhook to Workspace, pick the "
            "channel, and copy the webhook URL (https://hooks.slack.com/services/...).",
            "In Bellwether: Settings → Webhooks → add a webhook with that URL, the format 'Slack incoming webhook' "
            "and the events to post (a breach opened, a task created...).",
            "Send a ping from the webhook's page: a test message arrives in the channel. Each delivery is retried "
            "with backoff when Slack does not answer 200, and logged below.",
        ),
    ),
}
