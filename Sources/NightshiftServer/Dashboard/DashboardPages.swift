import Foundation
import Mustache
import NightshiftRuntime

/// The dashboard's pages as Mustache templates. `{{x}}` escapes HTML, and every value the agent
/// could have written (titles, reasons, arguments, outputs, events) is only ever put in with it;
/// `{{{body}}}`, the one unescaped slot, holds a page this file rendered.
enum DashboardPages {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in templates {
            // The templates are this file's constants: one that does not parse is a programming error.
            try! library.register(text, named: name)
        }
        return library
    }()

    /// Renders with every text in `object` made visible first (control characters and
    /// bidirectional overrides as `\\uXXXX`: an approver must read a call as it runs).
    static func render(_ name: String, _ object: Any) -> String {
        library.render(visible(object), withTemplate: name) ?? ""
    }

    static func visible(_ value: Any) -> Any {
        switch value {
        case let text as String: VisibleText.safe(text)
        case let dictionary as [String: Any]: dictionary.mapValues(visible)
        case let list as [[String: Any]]: list.map { $0.mapValues(visible) }
        case let list as [Any]: list.map(visible)
        default: value
        }
    }

    static let templates: [String: String] = [
        "memories": """
        <h1>Memories</h1>
        <h2>Proposed by runs</h2>
        {{#proposals}}<section class="item"><p><b>{{kind}}</b> for <code>{{scope}}</code> · from
        <a href="/dashboard/runs/{{runPath}}">{{run}}</a> · <code>{{id}}</code></p><pre class="memory">{{text}}</pre>
        {{#hasTags}}<p class="hint">tags: {{#tags}}{{.}} {{/tags}}</p>{{/hasTags}}
        <form method="post" action="/dashboard/memories/{{path}}/accept"><input type="hidden" name="csrf" value="{{csrf}}">
        <input name="note" placeholder="note (optional)"><button>Accept</button></form>
        <form method="post" action="/dashboard/memories/{{path}}/decline"><input type="hidden" name="csrf" value="{{csrf}}">
        <input name="note" required placeholder="why not"><button>Decline</button></form></section>{{/proposals}}
        {{^proposals}}<p>No proposal waits.</p>{{/proposals}}
        <h2>In the bank</h2>
        {{#anyMemories}}<div class="scroll"><table id="memories"><thead><tr><th>Memory</th><th>Kind</th><th>Scope</th>
        <th>Text</th></tr></thead><tbody>{{/anyMemories}}{{#memories}}<tr><td><code>{{id}}</code></td><td>{{kind}}</td>
        <td>{{scope}}</td><td>{{text}}</td></tr>{{/memories}}{{#anyMemories}}</tbody></table></div>{{/anyMemories}}
        {{^memories}}<p>The bank is empty.</p>{{/memories}}
        """,
        "schedules": """
        <h1>Schedules</h1>
        <p class="hint">Added with <code>nightshift schedule add</code>; kept by every serve and worker on this database.</p>
        {{#anySchedules}}<div class="scroll"><table id="schedules"><thead><tr><th>Name</th><th>Cron</th><th>Next</th>
        <th>Last slot</th><th>Works in</th></tr></thead><tbody>{{/anySchedules}}
        {{#schedules}}<tr><td>{{name}}</td><td><code>{{cron}}</code> {{zone}}</td><td>{{next}}</td><td>{{last}}</td>
        <td><code>{{workspace}}</code></td></tr>{{/schedules}}{{#anySchedules}}</tbody></table></div>{{/anySchedules}}
        {{^schedules}}<p>No schedules.</p>{{/schedules}}
        <h2>Webhooks</h2>
        <p class="hint">From your own configuration file (<code>webhooks:</code>), read when the server started.</p>
        {{#anyHooks}}<ul id="hooks">{{/anyHooks}}{{#hooks}}<li><code>POST /hooks/{{name}}</code> → {{what}} in
        <code>{{workspace}}</code></li>{{/hooks}}{{#anyHooks}}</ul>{{/anyHooks}}
        {{^hooks}}<p>No webhooks are served.</p>{{/hooks}}
        """,
        "layout": """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Nightshift</title><link rel="stylesheet" href="/dashboard/app.css"></head>
        <body>{{#signedIn}}<header><nav><a href="/dashboard">Runs</a> <a href="/dashboard/inbox">Inbox</a>
        <a href="/dashboard/agents">Agents</a> <a href="/dashboard/memories">Memories</a>
        <a href="/dashboard/schedules">Schedules</a></nav>
        <span class="who">{{principal}}</span>
        <form method="post" action="/dashboard/logout"><input type="hidden" name="csrf" value="{{csrf}}">
        <button>Sign out</button></form></header>{{/signedIn}}
        <main>{{{body}}}</main><script src="/dashboard/app.js"></script></body></html>
        """,
        "login": """
        <h1>Nightshift</h1>
        <form class="login" method="post" action="/dashboard/login">
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autocomplete="off" required placeholder="nst_…">
        <button>Sign in</button></form>
        {{#problem}}<p class="problem" role="alert">{{problem}}</p>{{/problem}}
        <p class="hint">Make a token with <code>nightshift token create --name NAME --scope read,approve</code>.</p>
        """,
        "runs": """
        <h1>Runs</h1>
        {{#any}}<div class="scroll"><table id="runs"><thead><tr><th>Run</th><th>Status</th><th>Title</th>
        <th>Events</th><th>Updated</th></tr></thead><tbody>
        {{#runs}}<tr><td><a href="/dashboard/runs/{{path}}">{{id}}</a></td><td class="status {{status}}">{{status}}</td>
        <td>{{title}}</td><td>{{events}}</td><td>{{updated}}</td></tr>{{/runs}}
        </tbody></table></div>{{/any}}
        {{^any}}<p>No runs in this database yet.</p>{{/any}}
        """,
        "run": """
        <h1>{{title}}</h1>
        <p class="meta">run <code>{{id}}</code> · <span id="status" class="status {{status}}">{{status}}</span>
        {{#reason}}<span id="reason">— {{reason}}</span>{{/reason}} · {{events}} events · {{cost}}</p>
        {{#waiting}}<section id="decide" class="decide"><h2>Waits for a decision</h2>
        <p>call <code>{{call}}</code> · tool <b>{{tool}}</b></p><pre class="arguments">{{arguments}}</pre>
        <form method="post" action="/dashboard/runs/{{runPath}}/calls/{{callPath}}/approve">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="arguments_sha256" value="{{sha256}}">
        <input name="note" placeholder="note (optional)"><button id="approve">Approve</button></form>
        <form method="post" action="/dashboard/runs/{{runPath}}/calls/{{callPath}}/deny">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="arguments_sha256" value="{{sha256}}">
        <input name="reason" required placeholder="why not"><button id="deny">Deny</button></form></section>{{/waiting}}
        <h2>Tasks</h2><div class="scroll"><table id="tasks"><thead><tr><th>Task</th><th>Status</th><th>Attempts</th>
        <th>Judge</th></tr></thead>
        <tbody>{{#tasks}}<tr><td>{{id}}</td><td class="status {{status}}">{{status}}</td><td>{{attempts}}</td>
        <td>{{verdict}}</td></tr>{{/tasks}}
        </tbody></table></div>
        {{#anyTree}}<h2>Fleet</h2><div class="scroll"><table id="tree"><thead><tr><th>Run</th><th>Agent</th><th>Status</th>
        <th>Spent</th><th>With its sub-agents</th></tr></thead><tbody>{{/anyTree}}
        {{#tree}}<tr><td class="depth{{depth}}"><a href="/dashboard/runs/{{path}}">{{run}}</a></td><td>{{profile}}</td>
        <td class="status {{status}}">{{status}}</td><td>{{own}}</td><td>{{total}}</td></tr>{{/tree}}
        {{#anyTree}}</tbody></table></div>{{/anyTree}}
        {{#anyCommits}}<h2>The work</h2><div class="scroll"><table id="commits"><thead><tr><th>Task</th><th>Commit</th>
        <th>Detail</th></tr></thead><tbody>{{#commits}}<tr><td>{{task}}</td><td><code>{{commit}}</code></td>
        <td>{{detail}}</td></tr>{{/commits}}</tbody></table></div>{{/anyCommits}}
        {{#diff}}<details id="diff"><summary>The diff of its branch ({{diffLines}} lines)</summary>
        <pre class="diff">{{diff}}</pre></details>{{/diff}}
        {{#charts}}{{#charted}}<h2>Spend over time</h2>
        <p class="hint">{{totalCost}} and {{totalTokens}} tokens over {{seconds}} s, cumulative at each model answer.</p>
        <svg class="chart" id="spend" viewBox="0 0 600 160" role="img" aria-label="cost and tokens over time">
        <polyline class="cost" points="{{costLine}}"></polyline><polyline class="tokens" points="{{tokenLine}}"></polyline>
        </svg><p class="legend"><span class="cost">cost</span> · <span class="tokens">tokens</span></p>
        <h2>Step latency</h2><p class="hint">The latest {{stepCount}} steps; the longest took {{longest}} ms.</p>
        <svg class="chart" id="latency" viewBox="0 0 600 160" role="img" aria-label="latency of each step">
        {{#bars}}<rect x="{{x}}" y="{{y}}" width="{{width}}" height="{{height}}" class="{{kind}}"><title>{{title}}</title></rect>{{/bars}}
        </svg><p class="legend"><span class="model">model call</span> · <span class="tool">tool call</span></p>
        {{/charted}}{{/charts}}
        <h2>Timeline <span id="live" class="live" hidden>live</span></h2>
        {{#earlier}}<p class="hint">The {{earlier}} events before these: <code>nightshift log {{id}}</code>, or the API.</p>{{/earlier}}
        <ol id="timeline" data-run="{{id}}" data-after="{{last}}">{{#timeline}}<li><details><summary>
        <span class="seq">{{seq}}</span> <span class="kind">{{kind}}</span> <span class="line">{{line}}</span></summary>
        <pre>{{json}}</pre></details></li>{{/timeline}}</ol>
        """,
        "agents": """
        <h1>Agents</h1>
        <p class="hint">Each agent (profile and version) over its runs{{#days}} of the last {{days}} days{{/days}}, from their logs.</p>
        {{#any}}<div class="scroll"><table id="scorecards"><thead><tr><th>Agent</th><th>Version</th><th>Runs</th>
        <th>Done</th><th>First try</th><th>Rework / task</th><th>Escalations</th><th>Asked / denied</th>
        <th>Budget / breaker</th><th>Cost / task</th><th>Tokens / task</th><th>Median</th></tr></thead><tbody>
        {{#cards}}<tr><td>{{name}}</td><td><code>{{version}}</code></td><td>{{runs}}</td><td>{{done}}</td>
        <td>{{first}}</td><td>{{rework}}</td><td>{{escalations}}</td><td>{{asked}} / {{denied}}</td>
        <td>{{budget}} / {{breaker}}</td><td>{{cost}}</td><td>{{tokens}}</td><td>{{median}}</td></tr>{{/cards}}
        </tbody></table></div>
        <h2>First-try rate by version</h2>
        <svg class="chart" viewBox="0 0 640 {{height}}" role="img" aria-label="first-try rate by agent version">
        {{#bars}}<text x="0" y="{{textY}}" class="label">{{label}}</text>
        <rect x="200" y="{{y}}" width="{{width}}" height="18" class="bar"></rect>
        <text x="{{valueX}}" y="{{textY}}" class="value">{{value}}</text>{{/bars}}
        </svg>
        {{#weeks}}{{#trend}}<h2>First-try rate, week by week</h2>
        <p class="hint">From the week of {{from}} to the week of {{to}}; a dot per week in which the version finished a task.</p>
        <svg class="chart" id="trend" viewBox="0 0 600 160" role="img" aria-label="first-try rate by week and version">
        {{#series}}<polyline class="{{series}}" points="{{points}}"></polyline>
        {{#dots}}<circle class="{{series}}" cx="{{x}}" cy="{{y}}" r="3"><title>{{title}}</title></circle>{{/dots}}{{/series}}
        </svg><ul class="legend">{{#series}}<li class="{{series}}">{{label}}</li>{{/series}}</ul>{{/trend}}{{/weeks}}{{/any}}
        {{^any}}<p>No runs to score{{#days}} in the last {{days}} days{{/days}}.</p>{{/any}}
        """,
        "inbox": """
        <h1>Inbox</h1>
        {{#items}}<section class="item"><h2><a href="/dashboard/runs/{{runPath}}">{{run}}</a> · {{kind}}</h2>
        <p>{{reason}}</p>{{#call}}<p>call <code>{{id}}</code> · tool <b>{{tool}}</b></p>
        <pre class="arguments">{{arguments}}</pre>
        <form method="post" action="/dashboard/runs/{{runPath}}/calls/{{path}}/approve">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="arguments_sha256" value="{{sha256}}">
        <input name="note" placeholder="note (optional)"><button>Approve</button></form>
        <form method="post" action="/dashboard/runs/{{runPath}}/calls/{{path}}/deny">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="arguments_sha256" value="{{sha256}}">
        <input name="reason" required placeholder="why not"><button>Deny</button></form>{{/call}}
        {{#plan}}<div class="plan"><p>plan version {{version}}: <b>{{title}}</b></p><ol>{{#tasks}}<li><code>{{id}}</code>
        {{description}}<ul>{{#checks}}<li>check <code>{{.}}</code></li>{{/checks}}</ul></li>{{/tasks}}</ol></div>
        <form method="post" action="/dashboard/runs/{{runPath}}/calls/plan/approve">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="plan_version" value="{{version}}">
        <input name="note" placeholder="note (optional)"><button>Approve the plan</button></form>
        <form method="post" action="/dashboard/runs/{{runPath}}/calls/plan/deny"><input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="plan_version" value="{{version}}">
        <input name="reason" required placeholder="what to change"><button>Ask for a new plan</button></form>{{/plan}}
        {{#answers}}<form method="post" action="/dashboard/runs/{{runPath}}/answer"><input type="hidden" name="csrf" value="{{csrf}}">
        <input name="text" required placeholder="your answer"><button>Answer</button></form>{{/answers}}
        {{#budget}}<form method="post" action="/dashboard/runs/{{runPath}}/budget"><input type="hidden" name="csrf" value="{{csrf}}">
        <input name="cost_usd" inputmode="decimal" placeholder="cost limit, USD (e.g. 5.00)">
        <input name="tokens" inputmode="numeric" placeholder="token limit">
        <button>Raise the run's budget</button></form>{{/budget}}</section>{{/items}}
        {{^items}}<p>Nothing waits for a person.</p>{{/items}}
        """,
    ]
}
