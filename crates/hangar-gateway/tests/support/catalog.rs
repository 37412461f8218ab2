//! A catalog of 1,000 tools for tool search: 40 services of many domains
//! (code hosting, chat, mail, payments, clouds, CRM, monitoring, media, …),
//! five kinds of thing each, and five operations on each thing. Names follow
//! the conventions real servers use (`github_create_issue`,
//! `jira_createIssue`, `gitlab-create-merge-request`, `k8s.pod.delete`),
//! descriptions and arguments read as real servers' do, and the tools share
//! most of their words, as large catalogs do.

use serde_json::{Value, json};

/// How a service spells its tool names.
#[derive(Clone, Copy)]
enum Style {
    Snake,
    Camel,
    Kebab,
    Dotted,
}

struct Service {
    prefix: &'static str,
    product: &'static str,
    style: Style,
    /// (thing, what one is, its fields)
    things: [(&'static str, &'static str, &'static [&'static str]); 5],
}

use Style::*;

const SERVICES: &[Service] = &[
    Service {
        prefix: "github",
        product: "GitHub",
        style: Snake,
        things: [
            (
                "issue",
                "An issue tracks a bug report or a feature request in a repository.",
                &["repository", "title", "body", "labels"],
            ),
            (
                "pull_request",
                "A pull request proposes merging the commits of one branch into another.",
                &["repository", "head", "base", "title"],
            ),
            (
                "repository",
                "A repository holds a project's code and its history.",
                &["owner", "name", "visibility"],
            ),
            (
                "release",
                "A release publishes a tagged version of a repository with notes and assets.",
                &["repository", "tag", "notes"],
            ),
            (
                "gist",
                "A gist is a snippet of code or text shared on its own.",
                &["filename", "content", "public"],
            ),
        ],
    },
    Service {
        prefix: "gitlab",
        product: "GitLab",
        style: Kebab,
        things: [
            (
                "merge_request",
                "A merge request asks to merge a source branch into a target branch after review.",
                &["project", "source_branch", "target_branch"],
            ),
            (
                "pipeline",
                "A pipeline runs the CI/CD jobs of a commit: build, test and deploy stages.",
                &["project", "ref", "variables"],
            ),
            (
                "project",
                "A project holds a repository, its issues and its CI/CD settings.",
                &["namespace", "name", "visibility"],
            ),
            (
                "issue",
                "An issue records a bug or planned work in a project.",
                &["project", "title", "description"],
            ),
            (
                "runner",
                "A runner is a machine that executes CI/CD jobs.",
                &["tags", "executor", "paused"],
            ),
        ],
    },
    Service {
        prefix: "jira",
        product: "Jira",
        style: Camel,
        things: [
            (
                "issue",
                "An issue is a ticket: a story, a bug or a task in a project's backlog.",
                &["project_key", "summary", "issue_type", "assignee"],
            ),
            (
                "sprint",
                "A sprint is a time-boxed iteration of a Scrum board.",
                &["board", "name", "start_date", "end_date"],
            ),
            (
                "board",
                "A board shows a project's issues in columns (Scrum or Kanban).",
                &["name", "project_key", "type"],
            ),
            (
                "epic",
                "An epic groups related stories into one large piece of work.",
                &["project_key", "name", "summary"],
            ),
            (
                "comment",
                "A comment adds discussion to an issue.",
                &["issue_key", "body"],
            ),
        ],
    },
    Service {
        prefix: "slack",
        product: "Slack",
        style: Snake,
        things: [
            (
                "message",
                "A message is text posted in a channel or a direct conversation.",
                &["channel", "text", "thread_ts"],
            ),
            (
                "channel",
                "A channel is a conversation space for a team or topic.",
                &["name", "is_private", "topic"],
            ),
            (
                "reminder",
                "A reminder notifies someone at a given time.",
                &["text", "time", "user"],
            ),
            (
                "user_group",
                "A user group is a handle that mentions several people at once.",
                &["handle", "name", "users"],
            ),
            (
                "emoji",
                "A custom emoji is an image that can be used in messages and reactions.",
                &["name", "image_url"],
            ),
        ],
    },
    Service {
        prefix: "gmail",
        product: "Gmail",
        style: Camel,
        things: [
            (
                "email",
                "An email message in the mailbox, with sender, recipients, subject and body.",
                &["to", "subject", "body", "cc"],
            ),
            (
                "draft",
                "A draft is an email saved but not sent yet.",
                &["to", "subject", "body"],
            ),
            (
                "label",
                "A label tags emails so that they can be grouped and found.",
                &["name", "color"],
            ),
            (
                "filter",
                "A filter applies actions (label, archive, forward) to incoming mail that matches criteria.",
                &["from", "query", "action"],
            ),
            (
                "thread",
                "A thread is a conversation of emails replying to each other.",
                &["thread_id", "label_ids"],
            ),
        ],
    },
    Service {
        prefix: "gcal",
        product: "Google Calendar",
        style: Snake,
        things: [
            (
                "event",
                "An event is a meeting or appointment on a calendar, with a start, an end and attendees.",
                &["calendar_id", "summary", "start", "end", "attendees"],
            ),
            (
                "calendar",
                "A calendar holds events, such as a personal or a team calendar.",
                &["summary", "time_zone"],
            ),
            (
                "attendee",
                "An attendee is a person invited to an event, with their response.",
                &["event_id", "email", "response_status"],
            ),
            (
                "working_location",
                "A working location says where someone works on a day: office or home.",
                &["date", "location"],
            ),
            (
                "room",
                "A room is a bookable meeting room resource.",
                &["building", "capacity", "name"],
            ),
        ],
    },
    Service {
        prefix: "drive",
        product: "Google Drive",
        style: Camel,
        things: [
            (
                "file",
                "A file stored in Drive: a document, a spreadsheet, a PDF or any upload.",
                &["name", "parent_folder", "mime_type"],
            ),
            (
                "folder",
                "A folder organises files in Drive.",
                &["name", "parent_folder"],
            ),
            (
                "permission",
                "A permission shares a file or folder with a person, group or anyone with the link.",
                &["file_id", "email", "role"],
            ),
            (
                "comment",
                "A comment is a remark on a file's content.",
                &["file_id", "content"],
            ),
            (
                "revision",
                "A revision is an earlier version of a file.",
                &["file_id", "keep_forever"],
            ),
        ],
    },
    Service {
        prefix: "notion",
        product: "Notion",
        style: Snake,
        things: [
            (
                "page",
                "A page is a document in the workspace made of blocks.",
                &["parent", "title", "properties"],
            ),
            (
                "database",
                "A database is a table of pages with typed properties.",
                &["parent", "title", "schema"],
            ),
            (
                "block",
                "A block is one piece of a page: a paragraph, heading, to-do or image.",
                &["page_id", "type", "text"],
            ),
            (
                "comment",
                "A comment is a discussion note on a page or block.",
                &["page_id", "text"],
            ),
            (
                "member",
                "A member is a person in the workspace.",
                &["email", "role"],
            ),
        ],
    },
    Service {
        prefix: "stripe",
        product: "Stripe",
        style: Snake,
        things: [
            (
                "customer",
                "A customer is a buyer whose payment methods and charges are tracked.",
                &["email", "name", "payment_method"],
            ),
            (
                "invoice",
                "An invoice bills a customer for items, due on a date.",
                &["customer", "items", "due_date"],
            ),
            (
                "payment_intent",
                "A payment intent collects a card payment from a customer.",
                &["amount", "currency", "customer"],
            ),
            (
                "subscription",
                "A subscription charges a customer on a recurring plan (monthly, yearly).",
                &["customer", "price", "trial_days"],
            ),
            (
                "refund",
                "A refund returns money of a charge to the customer's card.",
                &["charge", "amount", "reason"],
            ),
        ],
    },
    Service {
        prefix: "shopify",
        product: "Shopify",
        style: Camel,
        things: [
            (
                "product",
                "A product is an item sold in the online store, with variants and prices.",
                &["title", "price", "vendor", "tags"],
            ),
            (
                "order",
                "An order is a purchase a shopper made, with line items, shipping and payment.",
                &["customer", "line_items", "shipping_address"],
            ),
            (
                "customer",
                "A customer is a shopper with an account, addresses and order history.",
                &["email", "first_name", "last_name"],
            ),
            (
                "inventory_level",
                "An inventory level is the stock quantity of an item at a warehouse location.",
                &["item", "location", "available"],
            ),
            (
                "discount_code",
                "A discount code gives shoppers a percentage or amount off at checkout.",
                &["code", "percentage", "ends_at"],
            ),
        ],
    },
    Service {
        prefix: "s3",
        product: "Amazon S3",
        style: Snake,
        things: [
            (
                "bucket",
                "A bucket is a container for objects in a region.",
                &["name", "region", "versioning"],
            ),
            (
                "object",
                "An object is a stored blob (a file) under a key in a bucket.",
                &["bucket", "key", "content_type"],
            ),
            (
                "bucket_policy",
                "A bucket policy is a JSON document granting access to a bucket.",
                &["bucket", "policy"],
            ),
            (
                "lifecycle_rule",
                "A lifecycle rule moves objects to cheaper storage classes or expires them after some days.",
                &["bucket", "prefix", "days"],
            ),
            (
                "presigned_url",
                "A presigned URL lets someone download or upload one object for a limited time without credentials.",
                &["bucket", "key", "expires_in"],
            ),
        ],
    },
    Service {
        prefix: "ec2",
        product: "Amazon EC2",
        style: Kebab,
        things: [
            (
                "instance",
                "An instance is a virtual machine (server) in the cloud.",
                &["instance_type", "image_id", "subnet"],
            ),
            (
                "security_group",
                "A security group is a virtual firewall of inbound and outbound rules for instances.",
                &["name", "vpc", "ingress_rules"],
            ),
            (
                "volume",
                "A volume is a block storage disk attached to an instance.",
                &["size_gb", "volume_type", "zone"],
            ),
            (
                "snapshot",
                "A snapshot is a point-in-time backup copy of a volume.",
                &["volume_id", "description"],
            ),
            (
                "key_pair",
                "A key pair is the SSH key used to log in to instances.",
                &["name", "key_type"],
            ),
        ],
    },
    Service {
        prefix: "k8s",
        product: "Kubernetes",
        style: Dotted,
        things: [
            (
                "pod",
                "A pod runs one or more containers on a node of the cluster.",
                &["namespace", "name", "image"],
            ),
            (
                "deployment",
                "A deployment keeps a number of replicas of a pod running and rolls out new versions.",
                &["namespace", "name", "replicas", "image"],
            ),
            (
                "service",
                "A service gives a stable address and load balancing to a set of pods.",
                &["namespace", "name", "ports", "selector"],
            ),
            (
                "config_map",
                "A config map holds configuration key-value data for pods.",
                &["namespace", "name", "data"],
            ),
            (
                "namespace",
                "A namespace isolates a group of resources within the cluster.",
                &["name", "labels"],
            ),
        ],
    },
    Service {
        prefix: "postgres",
        product: "PostgreSQL",
        style: Snake,
        things: [
            (
                "table",
                "A table stores rows of data with typed columns in a database.",
                &["schema", "name", "columns"],
            ),
            (
                "index",
                "An index speeds up queries on columns of a table.",
                &["table", "columns", "unique"],
            ),
            (
                "role",
                "A role is a database user or group with privileges.",
                &["name", "login", "privileges"],
            ),
            (
                "schema",
                "A schema is a namespace of tables, views and functions in a database.",
                &["name", "owner"],
            ),
            (
                "backup",
                "A backup is a dump of a database that can be restored later.",
                &["database", "format"],
            ),
        ],
    },
    Service {
        prefix: "weather",
        product: "the weather service",
        style: Snake,
        things: [
            (
                "forecast",
                "A forecast predicts temperature, rain and wind for the coming days at a place.",
                &["latitude", "longitude", "days"],
            ),
            (
                "alert",
                "An alert warns of severe weather (storm, flood, heat) for an area.",
                &["area", "severity"],
            ),
            (
                "observation",
                "An observation is the current measured weather at a station: temperature, humidity, wind.",
                &["station", "time"],
            ),
            (
                "station",
                "A station is a weather measurement site.",
                &["latitude", "longitude", "name"],
            ),
            (
                "air_quality_report",
                "An air quality report gives pollution levels and the air quality index (AQI) at a place.",
                &["latitude", "longitude"],
            ),
        ],
    },
    Service {
        prefix: "maps",
        product: "Maps",
        style: Camel,
        things: [
            (
                "saved_place",
                "A saved place is a location a user starred, such as home or a restaurant.",
                &["name", "address", "list"],
            ),
            (
                "route",
                "A route gives driving, walking or transit directions between an origin and a destination.",
                &["origin", "destination", "mode"],
            ),
            (
                "geocode",
                "A geocode turns a street address into latitude and longitude coordinates.",
                &["address"],
            ),
            (
                "marker",
                "A marker is a pin shown on a custom map.",
                &["map_id", "latitude", "longitude", "label"],
            ),
            (
                "custom_map",
                "A custom map is a user's own map with layers and markers.",
                &["title", "description"],
            ),
        ],
    },
    Service {
        prefix: "spotify",
        product: "Spotify",
        style: Snake,
        things: [
            (
                "playlist",
                "A playlist is an ordered collection of songs.",
                &["name", "description", "public"],
            ),
            (
                "track",
                "A track is a song or an episode that can be played.",
                &["track_id", "market"],
            ),
            (
                "saved_album",
                "A saved album is an album in the user's library.",
                &["album_id"],
            ),
            (
                "followed_artist",
                "A followed artist is a musician the user follows.",
                &["artist_id"],
            ),
            (
                "queue_item",
                "A queue item is a song waiting to be played next on the user's device.",
                &["uri", "device_id"],
            ),
        ],
    },
    Service {
        prefix: "zendesk",
        product: "Zendesk",
        style: Kebab,
        things: [
            (
                "ticket",
                "A ticket is a customer support request with its conversation and status.",
                &["subject", "requester", "priority", "status"],
            ),
            (
                "macro",
                "A macro is a canned reply and set of actions agents apply to tickets.",
                &["title", "actions"],
            ),
            (
                "help_center_article",
                "A help center article is a self-service knowledge base page for customers.",
                &["title", "body", "section"],
            ),
            (
                "organization",
                "An organization groups the end users of one customer company.",
                &["name", "domain_names"],
            ),
            (
                "satisfaction_rating",
                "A satisfaction rating is a customer's good or bad score of a solved ticket.",
                &["ticket_id", "score", "comment"],
            ),
        ],
    },
    Service {
        prefix: "salesforce",
        product: "Salesforce",
        style: Camel,
        things: [
            (
                "lead",
                "A lead is a prospect who may become a customer, not yet qualified.",
                &["company", "last_name", "email", "source"],
            ),
            (
                "opportunity",
                "An opportunity is a potential sale with an amount, a stage and a close date.",
                &["account", "amount", "stage", "close_date"],
            ),
            (
                "account",
                "An account is a company that is a customer, partner or competitor.",
                &["name", "industry", "website"],
            ),
            (
                "contact",
                "A contact is a person who works for an account.",
                &["account", "first_name", "last_name", "email"],
            ),
            (
                "campaign",
                "A campaign is a marketing initiative such as an event or advertisement.",
                &["name", "type", "budget"],
            ),
        ],
    },
    Service {
        prefix: "hubspot",
        product: "HubSpot",
        style: Snake,
        things: [
            (
                "deal",
                "A deal tracks a sale through the stages of a pipeline.",
                &["name", "amount", "stage", "pipeline"],
            ),
            (
                "contact",
                "A contact is a person in the CRM with their email and lifecycle stage.",
                &["email", "first_name", "lifecycle_stage"],
            ),
            (
                "company",
                "A company is an organisation in the CRM, linked to its contacts.",
                &["name", "domain", "industry"],
            ),
            (
                "marketing_email",
                "A marketing email is a newsletter or promotional email sent to a list.",
                &["name", "subject", "list"],
            ),
            (
                "form",
                "A form collects visitors' details on a landing page.",
                &["name", "fields"],
            ),
        ],
    },
    Service {
        prefix: "twilio",
        product: "Twilio",
        style: Snake,
        things: [
            (
                "sms",
                "An SMS is a text message sent to or received from a mobile phone number.",
                &["to", "from", "body"],
            ),
            (
                "call",
                "A call is a voice phone call placed or received.",
                &["to", "from", "twiml_url"],
            ),
            (
                "phone_number",
                "A phone number is a number rented to send and receive calls and texts.",
                &["number", "country", "voice_url"],
            ),
            (
                "conference",
                "A conference is a voice call with several participants.",
                &["friendly_name", "participants"],
            ),
            (
                "call_recording",
                "A call recording is the audio of a recorded voice call.",
                &["call_sid", "format"],
            ),
        ],
    },
    Service {
        prefix: "sentry",
        product: "Sentry",
        style: Kebab,
        things: [
            (
                "issue",
                "An issue groups similar error events (exceptions, crashes) of an application.",
                &["project", "status", "assignee"],
            ),
            (
                "alert_rule",
                "An alert rule notifies the team when errors spike or a metric crosses a threshold.",
                &["project", "conditions", "actions"],
            ),
            (
                "release",
                "A release is a deployed version of an application, linked to its commits.",
                &["version", "projects"],
            ),
            (
                "project",
                "A project is one monitored application or service.",
                &["name", "platform", "team"],
            ),
            (
                "dashboard",
                "A dashboard shows charts of error and performance data.",
                &["title", "widgets"],
            ),
        ],
    },
    Service {
        prefix: "datadog",
        product: "Datadog",
        style: Snake,
        things: [
            (
                "monitor",
                "A monitor watches a metric, log or check and alerts when a threshold is crossed.",
                &["name", "query", "threshold", "notify"],
            ),
            (
                "dashboard",
                "A dashboard shows graphs of metrics and logs.",
                &["title", "widgets", "layout"],
            ),
            (
                "incident",
                "An incident tracks an outage from detection to resolution.",
                &["title", "severity", "commander"],
            ),
            (
                "log_pipeline",
                "A log pipeline parses and enriches incoming logs with processors.",
                &["name", "filter", "processors"],
            ),
            (
                "synthetic_test",
                "A synthetic test checks an API endpoint or a browser journey from several locations.",
                &["name", "url", "locations"],
            ),
        ],
    },
    Service {
        prefix: "pagerduty",
        product: "PagerDuty",
        style: Camel,
        things: [
            (
                "incident",
                "An incident pages the on-call responder about a problem until it is acknowledged and resolved.",
                &["service", "title", "urgency"],
            ),
            (
                "schedule",
                "A schedule says who is on call when, in rotating layers.",
                &["name", "time_zone", "layers"],
            ),
            (
                "escalation_policy",
                "An escalation policy says whom to page next when an incident is not acknowledged.",
                &["name", "rules"],
            ),
            (
                "service",
                "A service is an application or component that incidents are raised for.",
                &["name", "escalation_policy"],
            ),
            (
                "override",
                "An override puts someone else on call for part of a schedule.",
                &["schedule", "user", "start", "end"],
            ),
        ],
    },
    Service {
        prefix: "confluence",
        product: "Confluence",
        style: Snake,
        things: [
            (
                "page",
                "A page is a wiki document in a space.",
                &["space_key", "title", "body"],
            ),
            (
                "space",
                "A space is a wiki area for a team or project.",
                &["key", "name", "description"],
            ),
            (
                "attachment",
                "An attachment is a file uploaded to a page.",
                &["page_id", "file_name"],
            ),
            (
                "inline_comment",
                "An inline comment remarks on a highlighted passage of a page.",
                &["page_id", "text", "selection"],
            ),
            (
                "template",
                "A template is a reusable page layout for new pages.",
                &["space_key", "name", "body"],
            ),
        ],
    },
    Service {
        prefix: "trello",
        product: "Trello",
        style: Camel,
        things: [
            (
                "card",
                "A card is a task on a Trello board, in one of its lists.",
                &["list_id", "name", "due", "members"],
            ),
            (
                "board",
                "A board holds lists of cards for a project.",
                &["name", "background"],
            ),
            (
                "checklist",
                "A checklist is a list of check items on a card.",
                &["card_id", "name", "items"],
            ),
            (
                "label",
                "A label colours cards to categorise them.",
                &["board_id", "name", "color"],
            ),
            (
                "attachment",
                "An attachment is a file or link on a card.",
                &["card_id", "url"],
            ),
        ],
    },
    Service {
        prefix: "asana",
        product: "Asana",
        style: Snake,
        things: [
            (
                "task",
                "A task is a unit of work with an assignee and a due date.",
                &["project", "name", "assignee", "due_on"],
            ),
            (
                "project",
                "A project organises tasks in sections for a team.",
                &["team", "name", "layout"],
            ),
            (
                "section",
                "A section divides a project's tasks into groups or board columns.",
                &["project", "name"],
            ),
            (
                "tag",
                "A tag labels tasks across projects.",
                &["name", "color"],
            ),
            (
                "portfolio",
                "A portfolio monitors the status of several projects.",
                &["name", "projects"],
            ),
        ],
    },
    Service {
        prefix: "linear",
        product: "Linear",
        style: Camel,
        things: [
            (
                "issue",
                "An issue is a unit of engineering work with a state, a priority and an estimate.",
                &["team", "title", "priority", "estimate"],
            ),
            (
                "cycle",
                "A cycle is a team's iteration of one or two weeks.",
                &["team", "starts_at", "ends_at"],
            ),
            (
                "team",
                "A team owns issues, cycles and its own workflow states.",
                &["name", "key"],
            ),
            (
                "project",
                "A project groups issues toward a goal with a target date.",
                &["name", "target_date", "lead"],
            ),
            (
                "roadmap",
                "A roadmap shows projects on a timeline.",
                &["name", "projects"],
            ),
        ],
    },
    Service {
        prefix: "dropbox",
        product: "Dropbox",
        style: Snake,
        things: [
            (
                "file",
                "A file stored in Dropbox.",
                &["path", "mode", "autorename"],
            ),
            ("folder", "A folder in Dropbox that holds files.", &["path"]),
            (
                "shared_link",
                "A shared link lets people view or download a file without an account.",
                &["path", "expires", "password"],
            ),
            (
                "file_request",
                "A file request collects uploads from other people into a folder.",
                &["title", "destination", "deadline"],
            ),
            (
                "paper_doc",
                "A Paper doc is a collaborative text document.",
                &["title", "content"],
            ),
        ],
    },
    Service {
        prefix: "zoom",
        product: "Zoom",
        style: Kebab,
        things: [
            (
                "meeting",
                "A meeting is a video call with a join link, a start time and a duration.",
                &["topic", "start_time", "duration", "password"],
            ),
            (
                "webinar",
                "A webinar is a large broadcast video event with registrants and panelists.",
                &["topic", "start_time", "panelists"],
            ),
            (
                "cloud_recording",
                "A cloud recording is the saved video of a past meeting.",
                &["meeting_id", "file_type"],
            ),
            (
                "registrant",
                "A registrant is a person signed up for a meeting or webinar.",
                &["webinar_id", "email", "first_name"],
            ),
            (
                "zoom_room",
                "A Zoom Room is a conference room's video system.",
                &["name", "location"],
            ),
        ],
    },
    Service {
        prefix: "dockerhub",
        product: "Docker Hub",
        style: Snake,
        things: [
            (
                "image",
                "An image is a container image pushed to a registry.",
                &["namespace", "name", "digest"],
            ),
            (
                "repository",
                "A repository holds the tags of one container image.",
                &["namespace", "name", "is_private"],
            ),
            (
                "tag",
                "A tag names one version of an image, such as latest or 1.2.",
                &["repository", "name"],
            ),
            (
                "webhook",
                "A webhook calls a URL whenever an image is pushed.",
                &["repository", "url"],
            ),
            (
                "access_token",
                "An access token is a personal credential for pushing and pulling images.",
                &["label", "scopes"],
            ),
        ],
    },
    Service {
        prefix: "terraform",
        product: "Terraform Cloud",
        style: Dotted,
        things: [
            (
                "workspace",
                "A workspace manages one set of infrastructure with its state and variables.",
                &["organization", "name", "terraform_version"],
            ),
            (
                "run",
                "A run plans and applies infrastructure changes in a workspace.",
                &["workspace", "message", "auto_apply"],
            ),
            (
                "variable",
                "A variable is an input value or environment variable of a workspace.",
                &["workspace", "key", "value", "sensitive"],
            ),
            (
                "state_version",
                "A state version is a saved snapshot of a workspace's infrastructure state.",
                &["workspace", "serial"],
            ),
            (
                "policy_set",
                "A policy set enforces Sentinel or OPA policies on runs.",
                &["organization", "name", "policies"],
            ),
        ],
    },
    Service {
        prefix: "figma",
        product: "Figma",
        style: Camel,
        things: [
            (
                "design_file",
                "A design file holds frames, layers and prototypes.",
                &["project", "name"],
            ),
            (
                "comment",
                "A comment is feedback pinned on a design.",
                &["file_key", "message", "position"],
            ),
            (
                "component",
                "A component is a reusable design element of a library.",
                &["file_key", "name"],
            ),
            (
                "project",
                "A project groups a team's design files.",
                &["team", "name"],
            ),
            (
                "image_export",
                "An image export renders frames of a design as PNG, SVG or PDF.",
                &["file_key", "node_ids", "format"],
            ),
        ],
    },
    Service {
        prefix: "airtable",
        product: "Airtable",
        style: Snake,
        things: [
            (
                "base",
                "A base is a spreadsheet-like database of tables.",
                &["name", "workspace"],
            ),
            (
                "table",
                "A table in a base holds records with fields.",
                &["base_id", "name", "fields"],
            ),
            (
                "record",
                "A record is one row of a table.",
                &["base_id", "table", "fields"],
            ),
            (
                "field",
                "A field is a typed column of a table.",
                &["table", "name", "type"],
            ),
            (
                "view",
                "A view is a filtered, sorted way to see a table's records, such as a grid or a kanban.",
                &["table", "name", "filter"],
            ),
        ],
    },
    Service {
        prefix: "mailchimp",
        product: "Mailchimp",
        style: Kebab,
        things: [
            (
                "audience",
                "An audience is a mailing list of subscribed contacts.",
                &["name", "permission_reminder"],
            ),
            (
                "campaign",
                "A campaign is a newsletter email sent to an audience.",
                &["audience", "subject_line", "from_name"],
            ),
            (
                "subscriber",
                "A subscriber is a contact who opted in to an audience's emails.",
                &["audience", "email_address", "status"],
            ),
            (
                "template",
                "A template is a reusable email design.",
                &["name", "html"],
            ),
            (
                "segment",
                "A segment is a subset of an audience matching conditions.",
                &["audience", "name", "conditions"],
            ),
        ],
    },
    Service {
        prefix: "quickbooks",
        product: "QuickBooks",
        style: Camel,
        things: [
            (
                "invoice",
                "An invoice asks a customer to pay for goods or services sold.",
                &["customer", "lines", "due_date"],
            ),
            (
                "bill",
                "A bill is what the business owes a vendor.",
                &["vendor", "lines", "due_date"],
            ),
            (
                "expense",
                "An expense records money spent, with its category and receipt.",
                &["account", "amount", "category"],
            ),
            (
                "vendor",
                "A vendor is a supplier the business buys from.",
                &["display_name", "email"],
            ),
            (
                "payment",
                "A payment records money received from a customer against invoices.",
                &["customer", "amount", "invoices"],
            ),
        ],
    },
    Service {
        prefix: "calendly",
        product: "Calendly",
        style: Snake,
        things: [
            (
                "event_type",
                "An event type is a kind of meeting people can book, such as a 30 minute call.",
                &["name", "duration", "location"],
            ),
            (
                "scheduled_event",
                "A scheduled event is a booked meeting on a date.",
                &["event_type", "start_time", "invitee"],
            ),
            (
                "invitee",
                "An invitee is a person who booked a time slot.",
                &["event", "email", "name"],
            ),
            (
                "availability_schedule",
                "An availability schedule sets the hours when meetings can be booked.",
                &["name", "rules", "timezone"],
            ),
            (
                "booking_webhook",
                "A booking webhook notifies a URL when someone books or cancels.",
                &["url", "events"],
            ),
        ],
    },
    Service {
        prefix: "youtube",
        product: "YouTube",
        style: Camel,
        things: [
            (
                "video",
                "A video is an uploaded clip with a title, a description and a privacy status.",
                &["title", "description", "privacy"],
            ),
            (
                "playlist",
                "A playlist is an ordered list of videos.",
                &["title", "privacy"],
            ),
            (
                "comment",
                "A comment is a viewer's reply under a video.",
                &["video_id", "text"],
            ),
            (
                "caption_track",
                "A caption track holds subtitles of a video in one language.",
                &["video_id", "language", "file"],
            ),
            (
                "live_broadcast",
                "A live broadcast streams video live to viewers.",
                &["title", "scheduled_start"],
            ),
        ],
    },
    Service {
        prefix: "x",
        product: "X (formerly Twitter)",
        style: Snake,
        things: [
            (
                "post",
                "A post (tweet) is a short public message on the timeline.",
                &["text", "reply_to", "media"],
            ),
            (
                "direct_message",
                "A direct message is a private message to another account.",
                &["recipient", "text"],
            ),
            (
                "bookmark",
                "A bookmark saves a post to read later.",
                &["post_id"],
            ),
            (
                "follow",
                "A follow subscribes to another account's posts.",
                &["user_id"],
            ),
            (
                "mute",
                "A mute hides another account's posts without unfollowing.",
                &["user_id"],
            ),
        ],
    },
    Service {
        prefix: "cloudflare",
        product: "Cloudflare",
        style: Kebab,
        things: [
            (
                "dns_record",
                "A DNS record maps a domain name to an address (A, AAAA, CNAME, MX, TXT).",
                &["zone", "type", "name", "content"],
            ),
            (
                "zone",
                "A zone is a domain whose DNS and traffic Cloudflare manages.",
                &["name", "plan"],
            ),
            (
                "firewall_rule",
                "A firewall rule blocks or challenges requests that match an expression.",
                &["zone", "expression", "action"],
            ),
            (
                "worker",
                "A worker is a serverless script running at the edge.",
                &["name", "script", "routes"],
            ),
            (
                "cache_purge",
                "A cache purge removes cached copies of files from the CDN.",
                &["zone", "files"],
            ),
        ],
    },
];

/// The five operations on each thing.
const VERBS: [&str; 5] = ["create", "get", "list", "update", "delete"];

/// What `verb` does to a thing of a product, as a description starts.
fn describe(verb: &str, thing: &str, product: &str) -> String {
    match verb {
        "create" => format!("Creates a new {thing} in {product}."),
        "get" => format!("Gets one {thing} of {product} by its ID, with all its details."),
        "list" => format!(
            "Lists the {} in {product}, newest first; a query narrows them down.",
            plural(thing)
        ),
        "update" => {
            format!("Updates an existing {thing} in {product}: changes only the fields given.")
        }
        _ => format!("Deletes a {thing} from {product}. This cannot be undone."),
    }
}

/// Every tool of the catalog, as the config's `tools` entries would be
/// written, calling `backend` (which echoes what it is sent).
pub fn tools(backend: &str) -> Vec<Value> {
    let mut tools = Vec::new();
    for service in SERVICES {
        for (thing, what, fields) in &service.things {
            let words = thing.replace('_', " ");
            for verb in VERBS {
                let mut properties = serde_json::Map::new();
                let mut required = Vec::new();
                if matches!(verb, "get" | "update" | "delete") {
                    let id = format!("{thing}_id");
                    properties.insert(
                        id.clone(),
                        json!({"type": "string", "description": format!("The ID of the {words}.")}),
                    );
                    required.push(id);
                }
                if matches!(verb, "create" | "update") {
                    for field in *fields {
                        let field_words = field.replace('_', " ");
                        properties.insert(field.to_string(), json!({"type": "string", "description": format!("The {field_words} of the {words}.")}));
                    }
                }
                if verb == "list" {
                    properties.insert(
                        "query".into(),
                        json!({"type": "string", "description": "Text to search for."}),
                    );
                    properties.insert(
                        "limit".into(),
                        json!({"type": "integer", "description": "How many to return."}),
                    );
                }
                tools.push(json!({
                    "name": name(service.prefix, service.style, verb, thing),
                    "title": format!("{} {words} ({})", capitalised(verb), service.product),
                    "description": format!("{} {what}", describe(verb, &words, service.product)),
                    "inputSchema": {"type": "object", "properties": properties, "required": required},
                    "annotations": {"readOnlyHint": matches!(verb, "get" | "list"), "destructiveHint": verb == "delete"},
                    "backend": {"url": backend},
                }));
            }
        }
    }
    tools
}

/// A tool's name as its service spells it; `list` takes the plural.
fn name(prefix: &str, style: Style, verb: &str, thing: &str) -> String {
    let thing = if verb == "list" {
        plural(thing)
    } else {
        thing.to_string()
    };
    match style {
        Snake => format!("{prefix}_{verb}_{thing}"),
        Camel => {
            let camel: String = thing.split('_').map(capitalised).collect();
            format!("{prefix}_{verb}{camel}")
        }
        Kebab => format!("{prefix}-{verb}-{}", thing.replace('_', "-")),
        Dotted => format!("{prefix}.{thing}.{verb}"),
    }
}

/// English plurals of the catalog's things (`policy` → `policies`, `sms` → `smses`).
fn plural(thing: &str) -> String {
    if let Some(stem) = thing
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o']))
    {
        format!("{stem}ies")
    } else if thing.ends_with(['s', 'x']) || thing.ends_with("sh") || thing.ends_with("ch") {
        format!("{thing}es")
    } else {
        format!("{thing}s")
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
