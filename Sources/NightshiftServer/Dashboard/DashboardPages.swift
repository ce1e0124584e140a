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
        "layout": """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Nightshift</title><link rel="stylesheet" href="/dashboard/app.css"></head>
        <body>{{#signedIn}}<header><nav><a href="/dashboard">Runs</a> <a href="/dashboard/inbox">Inbox</a>
        <a href="/dashboard/agents">Agents</a></nav>
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
        <h2>Tasks</h2><div class="scroll"><table><thead><tr><th>Task</th><th>Status</th><th>Attempts</th></tr></thead>
        <tbody>{{#tasks}}<tr><td>{{id}}</td><td class="status {{status}}">{{status}}</td><td>{{attempts}}</td></tr>{{/tasks}}
        </tbody></table></div>
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
        </svg>{{/any}}
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
        <input name="reason" required placeholder="why not"><button>Deny</button></form>{{/call}}</section>{{/items}}
        {{^items}}<p>Nothing waits for a person.</p>{{/items}}
        """,
    ]
}
