/// The dashboard's stylesheet and script, served from the server itself (no CDN, no build step).
/// The script writes what the server sends with `textContent` only, never as HTML.
enum DashboardAssets {
    static let css = """
        :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
        body { margin: 0; line-height: 1.4; }
        header { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; padding: .5rem 1rem;
          border-bottom: 1px solid #8884; }
        header nav a { margin-right: .75rem; }
        header .who { margin-left: auto; opacity: .7; }
        header form { margin: 0; }
        main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
        h1 { font-size: 1.4rem; overflow-wrap: anywhere; }
        h2 { font-size: 1.1rem; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #8883; }
        pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #8881; padding: .5rem; max-height: 24rem;
          overflow: auto; }
        .status.paused { color: #b26b00; } .status.failed { color: #c0392b; } .status.finished { color: #2e7d32; }
        .decide, .item { border: 1px solid #8886; border-radius: .4rem; padding: .5rem 1rem; margin: 1rem 0; }
        .decide form, .item form { display: flex; flex-wrap: wrap; gap: .5rem; margin: .5rem 0; }
        input { flex: 1 1 12rem; padding: .4rem; font-size: 1rem; }
        button { padding: .4rem .9rem; font-size: 1rem; }
        ol#timeline { padding-left: 0; list-style: none; font-family: ui-monospace, monospace; font-size: .85rem; }
        ol#timeline li { border-bottom: 1px solid #8882; }
        .seq { opacity: .6; } .kind { font-weight: 600; }
        .live { font-size: .75rem; color: #2e7d32; }
        .problem { color: #c0392b; }
        .login { display: flex; flex-direction: column; gap: .5rem; max-width: 28rem; }
        svg.chart { width: 100%; max-width: 40rem; height: auto; font-size: 12px; }
        svg.chart .bar { fill: #4a7bd0; } svg.chart .label, svg.chart .value { fill: currentColor; }
        svg.chart polyline { fill: none; stroke-width: 2; }
        svg.chart .cost { stroke: #c0392b; } svg.chart .tokens { stroke: #4a7bd0; }
        svg.chart rect.model { fill: #4a7bd0; } svg.chart rect.tool { fill: #b26b00; }
        .legend .cost { color: #c0392b; } .legend .tokens, .legend .model { color: #4a7bd0; }
        .legend .tool { color: #b26b00; }
        .series0 { stroke: #4a7bd0; fill: #4a7bd0; color: #4a7bd0; }
        .series1 { stroke: #c0392b; fill: #c0392b; color: #c0392b; }
        .series2 { stroke: #2e7d32; fill: #2e7d32; color: #2e7d32; }
        .series3 { stroke: #b26b00; fill: #b26b00; color: #b26b00; }
        .series4 { stroke: #8e44ad; fill: #8e44ad; color: #8e44ad; }
        .series5 { stroke: #16a085; fill: #16a085; color: #16a085; }
        .series6 { stroke: #7f8c8d; fill: #7f8c8d; color: #7f8c8d; }
        .series7 { stroke: #d35400; fill: #d35400; color: #d35400; }
        svg.chart polyline[class^="series"] { fill: none; }
                .depth1 { padding-left: 1.5rem; } .depth2 { padding-left: 3rem; } .depth3 { padding-left: 4.5rem; }
        """

    static let js = """
        (() => {
          const table = document.getElementById('runs');
          if (!table || !window.EventSource) return;
          const body = table.querySelector('tbody');
          const source = new EventSource('/dashboard/live');
          source.onmessage = (message) => {
            let runs;
            try { runs = JSON.parse(message.data); } catch { return; }
            const rows = runs.map((r) => {
              const row = document.createElement('tr');
              const link = document.createElement('a');
              link.href = '/dashboard/runs/' + encodeURIComponent(r.id);
              link.textContent = r.id;
              const cells = [link, r.status, r.title, String(r.events), r.updated];
              cells.forEach((value, n) => {
                const cell = document.createElement('td');
                if (n === 1) cell.className = 'status ' + r.status;
                if (typeof value === 'string') cell.textContent = value; else cell.append(value);
                row.append(cell);
              });
              return row;
            });
            body.replaceChildren(...rows);
          };
        })();
        (() => {
          const list = document.getElementById('timeline');
          if (!list || !window.EventSource) return;
          const status = document.getElementById('status');
          const live = document.getElementById('live');
          const url = '/dashboard/runs/' + encodeURIComponent(list.dataset.run) + '/events?after=' +
            encodeURIComponent(list.dataset.after);
          const source = new EventSource(url);
          source.onopen = () => { live.hidden = false; };
          source.onerror = () => { live.hidden = true; };
          source.onmessage = (message) => {
            let e;
            try { e = JSON.parse(message.data); } catch { return; }
            const item = document.createElement('li');
            const details = document.createElement('details');
            const summary = document.createElement('summary');
            const seq = document.createElement('span');
            seq.className = 'seq';
            seq.textContent = String(e.seq);
            const kind = document.createElement('span');
            kind.className = 'kind';
            kind.textContent = String(e.kind);
            summary.append(seq, ' ', kind);
            const pre = document.createElement('pre');
            pre.textContent = message.data;
            details.append(summary, pre);
            item.append(details);
            list.append(item);
            const ends = { run_paused: 'paused', run_finished: 'finished', run_failed: 'failed', run_resumed: 'running' };
            if (ends[e.kind]) {
              status.textContent = ends[e.kind];
              status.className = 'status ' + ends[e.kind];
              const reason = document.getElementById('reason');
              if (reason) reason.remove();
            }
            if (e.kind === 'approval_decided') {
              const decide = document.getElementById('decide');
              if (decide) decide.remove();
            }
          };
        })();
        """
}
