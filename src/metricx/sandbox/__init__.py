"""The Meta sandbox: a local, deterministic Graph / Marketing API stand-in (issue 3).

HTTP surface (one server; point the SDK at it with `FacebookSession.GRAPH = base_url`):
- Graph: `/{v}/me`, `/me/adaccounts`, `/me/permissions`, `/{id}`, `/{act_X}/campaigns|adsets|ads|
  insights`, `/{campaign}/adsets|ads|insights`, `/{adset}/ads|insights`, `/{ad}/insights`; `fields`,
  `limit`, `after`/`before` cursors + `next`; `filtering`/`effective_status` (DELETED and ARCHIVED
  hidden by default). `POST /{v}/` with `batch` (max 50).
- Insights: `level`, `fields`, `time_range`/`date_preset`, `time_increment` (1-90, all_days,
  monthly), `breakdowns=hourly_stats_aggregated_by_advertiser_time_zone` (reach 0, no off-Meta
  actions), `action_attribution_windows`. Async: `POST /{act_X}/insights` -> `report_run_id`; poll
  `GET /{run}` (100% while "Job Running" for one poll); `GET /{run}/insights` (2601/1815107 early).
- OAuth: `GET /{v}/dialog/oauth` (HTML: grant -> `redirect_uri?code&state`; cancel ->
  `error=access_denied&error_reason=user_denied`); `GET /{v}/oauth/access_token` (code -> 2 h token,
  `grant_type=fb_exchange_token` -> 60 d); `GET /debug_token?input_token&access_token=APPID|SECRET`.
- Tokens: stateless `EAAS` + base64url("user|app|scopes|issued|expires|kind|nonce") + 32 hex HMAC,
  key from the seed (`metricx sandbox token`); 104 none, 190/467 unknown, 190/463 expired, 190/460
  revoked.
- Headers: x-app-usage always; x-business-use-case-usage, x-ad-account-usage and
  x-fb-ads-insights-throttle on every ad-account call, errors included. Throttling: 17/2446079 (or
  613/1487742), 80000 / 80004 with 2446079; development tier 60 points / 300 s block. The
  `throttle_rate` fault refuses a share of calls by the score limit with `throttle_seconds` left
  (x-ad-account-usage at 100%, reset_time_duration in seconds). The `sync_insights_max_rows`
  fault refuses a synchronous insights call's page that goes past that many rows with 100/1487534
  ("reduce the amount of data"), as Meta refuses a call grown too big; report jobs are spared.
  The `unlisted_ids` fault leaves those campaigns, ad sets or ads out of every listing edge (as
  Meta does for a while after an object is created): they still deliver, insights rows name
  them (each row also carries `adset_id`, `campaign_id` and `account_id` when asked, the account
  without `act_`), a GET by id finds them, and the truth counts them.
- Ads Manager parity (issue 16). Ad sets carry `optimization_goal`, `promoted_object` (pixel +
  custom_event_type, pixel + custom_conversion_id, page_id or application_id) and
  `attribution_spec`; most keep 7d_click_1d_view, others 1d_click, 7d_click or 1d_click_1d_view,
  and in each account's first three campaigns the second ad set differs in goal (and, in the
  first, in setting), so campaigns mix goals and settings. `act_X/customconversions` (paged)
  lists 2-4 custom conversions per account; `offsite_conversion.custom.<id>` fires in some
  sales and leads ad sets. Insights accept `action_attribution_windows` 1d_click, 7d_click,
  28d_click, 1d_view, 1d_ev: each action carries those window keys, and `value` is the ad
  set's setting (the sum of its windows). On-Meta actions (link_click, post_engagement,
  landing_page_view, video_view, onsite_conversion.messaging_conversation_started_7d) count the
  same in each click window and none in view windows. Fields `attribution_setting` ("mixed"
  where a row's ad sets differ), `outbound_clicks`, `video_play_actions` (starts),
  `video_thruplay_watched_actions`, `video_p25..p100_watched_actions` (p95 included),
  `video_avg_time_watched_actions` (whole seconds), `cost_per_thruplay` (awareness and
  engagement families only; absent elsewhere), `results` / `cost_per_result` (Meta's
  indicator shape; none where the row's ad sets optimize for different results). A row that
  aggregates several attribution settings omits `actions`, `action_values`,
  `cost_per_action_type` and `purchase_roas` unless explicit windows are asked. Video fields
  with an hourly breakdown are refused with (#100).
- Creatives (issue 17): each ad's `creative{id}` names one of its account's creatives (about one
  per two ads, shared across ad sets); `act_X/adcreatives`, `act_X/adimages` (`hashes` filter),
  `act_X/advideos` (paged) and `GET /{creative_id}` / `/{video_id}` serve them (sandbox/
  creatives.py: copy, call to action, object_story_spec link_data / video_data, url_tags in
  clean, macro and malformed shapes). `thumbnail_url`, `image_url`, `url` and `picture` point at
  `/_sandbox/cdn/<key>.png?oe=<hex expiry>&oh=<sig>`: a real small PNG, 403 "URL signature
  expired" three sandbox days after the URL was handed out.
- Control (no auth): `GET /_sandbox`, `GET|POST /_sandbox/clock`, `POST /_sandbox/clock/advance`,
  `GET|POST|DELETE /_sandbox/faults`, `POST /_sandbox/token`, `POST /_sandbox/tokens/revoke`,
  `GET|POST /_sandbox/tier`, `GET /_sandbox/usage`, `POST /_sandbox/reset`,
  `GET /_sandbox/truth?account_id&level&granularity=hour|day&since&until` (exact, as of "now";
  day rows also carry every action x window, results, video and click figures: truth.py),
  `GET /_sandbox/truth/reach?account_id&level&since&until` (deduplicated reach of that exact
  range), `GET /_sandbox/truth/settings?account_id` (ad set goals, settings, result indicators,
  custom conversions), `GET /_sandbox/truth/creatives?account_id` (creatives, their raw copy,
  thumbnail PNG digest and ads).
"""
