/*
 * mt_plot_page.c - one self-contained HTML page: a summary table, the
 * timeline (the SVG of mt_plot, in an iframe so that its styles and
 * tooltips stay its own) and an interactive flame graph drawn in the
 * browser from the tree embedded as JSON: click a frame to zoom into it,
 * search with highlight and the share of the total matched, "hide import
 * system" (importlib's frames folded into their callers), tooltips with
 * value and share. Nothing is loaded from the network; the page works from
 * file://. Like the rest of libmemtrace-plot it knows nothing of traces.
 *
 * The page's state can be set from the URL's fragment, for links and
 * tests: #search=TEXT&zoom=NAME&hide=1&view=icicle|flame|inverted; with a
 * profile over time also &weight=peak|leak|alloc|temp|rss, &thread=TID or
 * NAME, &hidem=1 (memtrace's frames), &win=FROM-TO (seconds) or
 * &slices=S0-S1 (the window's first and last slice, 1-based).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_plot_internal.h"

/* The page's profile over time: stacks under 1/10^4 of every measure fold
 * into "(smaller stacks)"; slices merge until at most this many records
 * (7 numbers each: ~5 MB of JSON at most). */
#define PAGE_MIN_SHARE 1e-4
#define PAGE_MAX_RECORDS 200000

/* Text into HTML (element content or a quoted attribute). */
static void html_text(FILE *f, const char *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '&') fputs("&amp;", f);
        else if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '"') fputs("&quot;", f);
        else fputc(c, f);
    }
}
static void html_str(FILE *f, const char *t) { html_text(f, t ? t : "", t ? strlen(t) : 0); }

static int svg_height(const char *p, unsigned dflt) {
    const char *h = p ? strstr(p, " height=\"") : NULL;
    if (!h || h - p > 1024) return (int)dflt;
    return atoi(h + 9) > 0 ? atoi(h + 9) : (int)dflt;
}

/* The timeline's SVG in an iframe (srcdoc): the page still needs nothing
 * but itself. Its XML declaration is dropped (it is embedded). */
static int timeline_frame(FILE *f, mt_plot *p, unsigned w, unsigned h) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    if (!m) return MT_PLOT_ERR_NOMEM;
    int rc = mt_plot_write_svg(p, m);
    if (fclose(m) != 0 && rc >= 0) rc = MT_PLOT_ERR_NOMEM;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    const char *s = buf;
    if (n > 5 && memcmp(s, "<?xml", 5) == 0) {
        const char *e = memchr(s, '\n', n);
        if (e) n -= (size_t)(e + 1 - s), s = e + 1;
    }
    fprintf(f, "<iframe title=\"timeline\" width=\"%u\" height=\"%d\" srcdoc=\"", w + 2,
            svg_height(s, h) + 2);
    html_str(f, "<style>html,body{margin:0;overflow:hidden}</style>");
    html_text(f, s, n);
    fputs("\"></iframe>\n", f);
    free(buf);
    return 0;
}

/* n bytes of JSON inside a <script> element: "</" written "<\/" so that
 * no text can end the element. */
static void script_text(FILE *f, const char *buf, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '<' && i + 1 < n && buf[i + 1] == '/') fputs("<\\", f);
        else fputc(buf[i], f);
    }
}

/* A JSON string inside a <script> element (see script_text). */
static void json_script(FILE *f, const char *s) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    if (!m) return;
    mt_plot_json_str(m, s);
    fclose(m);
    script_text(f, buf, n);
    free(buf);
}

/* The tree as JSON inside a <script> element: "</" written "<\/" so that
 * no name can end the element. */
static int flame_data(FILE *f, const mt_flame *fl, const char *unit, const char *const *src,
                      unsigned nsrc) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    if (!m) return MT_PLOT_ERR_NOMEM;
    int rc = mt_flame_write_json(fl, m);
    if (fclose(m) != 0 && rc >= 0) rc = MT_PLOT_ERR_NOMEM;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    fputs("<script type=\"application/json\" id=\"fg-data\">{\"unit\":", f);
    mt_plot_json_str(f, unit ? unit : "");
    fputs(",\"src\":{", f);
    for (unsigned i = 0; i < nsrc; i++) {
        if (i) fputc(',', f);
        json_script(f, src[2 * i]);
        fputc(':', f);
        json_script(f, src[2 * i + 1]);
    }
    fputs("},\"tree\":", f);
    script_text(f, buf, n);
    fputs("}</script>\n", f);
    free(buf);
    return 0;
}

/* The profile over time as the page's data (reduced on the way): the
 * same "</" guard as flame_data. */
static int tprof_data(FILE *f, const mt_page *pg) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    if (!m) return MT_PLOT_ERR_NOMEM;
    fputs("{\"unit\":", m);
    mt_plot_json_str(m, pg->flame_unit ? pg->flame_unit : "");
    fputs(",\"weight\":", m);
    mt_plot_json_str(m, pg->tprof_weight ? pg->tprof_weight : "");
    fputs(",\"src\":{", m);
    for (unsigned i = 0; i < pg->nsources; i++) {
        if (i) fputc(',', m);
        mt_plot_json_str(m, pg->sources[2 * i]);
        fputc(':', m);
        mt_plot_json_str(m, pg->sources[2 * i + 1]);
    }
    fputs("},\"tp\":", m);
    int rc = mt_tprof_write_json(pg->tprof, m, PAGE_MIN_SHARE, PAGE_MAX_RECORDS);
    fputs("}", m);
    if (fclose(m) != 0 && rc >= 0) rc = MT_PLOT_ERR_NOMEM;
    if (rc >= 0) {
        fputs("<script type=\"application/json\" id=\"fg-data\">", f);
        script_text(f, buf, n);
        fputs("</script>\n", f);
    }
    free(buf);
    return rc;
}

static const char page_css[] =
    "body{font-family:Verdana,\"DejaVu Sans\",Helvetica,sans-serif;margin:16px 20px;"
    "color:#222;background:#fff}\n"
    "h1{font-size:20px;margin:0 0 4px}\nh2{font-size:16px;margin:22px 0 6px}\n"
    ".sub{color:#555;font-size:13px;margin:0 0 12px}\n"
    "table{border-collapse:collapse;font-size:13px}\n"
    "th,td{padding:3px 12px 3px 0;text-align:left;white-space:nowrap}\n"
    "td.n{text-align:right}\nth{border-bottom:1px solid #bbb}\n"
    "iframe{border:1px solid #ddd;display:block;max-width:100%}\n"
    ".note{color:#555;font-size:12px}\n.warn{color:#b00;font-weight:bold}\n"
    "#fg-controls{font-size:13px;margin:4px 0 6px}\n#fg-controls input[type=search]{width:18em}\n"
    "#fg-info{margin-left:1em;color:#333}\n"
    "#fg{position:relative;border:1px solid #ddd;overflow:hidden;"
    "font:11px \"DejaVu Sans Mono\",Menlo,monospace}\n"
    ".fg-n{position:absolute;height:15px;line-height:13px;overflow:hidden;white-space:nowrap;"
    "text-overflow:ellipsis;padding-left:2px;box-sizing:border-box;border:.5px solid #fff;"
    "border-radius:2px;cursor:pointer}\n"
    ".fg-n:hover{border-color:#000}\n.fg-anc{opacity:.6}\n"
    ".fg-match{background:#e040fb !important;color:#fff}\n"
    "table.sortable th{cursor:pointer;user-select:none}\n"
    "table.sortable th:hover{text-decoration:underline}\n"
    "table.sortable td:first-child{white-space:normal;max-width:60em}\n"
    "#tw{display:block;border:1px solid #ddd;cursor:crosshair;touch-action:none;"
    "user-select:none;height:64px}\n#tw-box{margin:6px 0}\n#tw-label{font-size:12px;"
    "color:#333;margin:2px 0}\n";

/* Sorting the tables marked sortable: a click on a heading orders the rows
 * by that column's data-v (numbers, greatest first; again: least first), or
 * by text when the cells have none. */
static const char sort_js[] =
    "Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(t){\n"
    " Array.prototype.forEach.call(t.querySelectorAll('th'),function(th,c){\n"
    "  th.addEventListener('click',function(){var rows=Array.prototype.slice.call("
    "t.querySelectorAll('tbody tr'));\n"
    "   var desc=th.getAttribute('data-order')!=='desc';Array.prototype.forEach.call("
    "t.querySelectorAll('th'),function(h){h.removeAttribute('data-order');});\n"
    "   th.setAttribute('data-order',desc?'desc':'asc');\n"
    "   rows.sort(function(a,b){var x=a.children[c],y=b.children[c],vx=x.getAttribute('data-v'),"
    "vy=y.getAttribute('data-v');\n"
    "    var r=vx!==null&&vy!==null?parseFloat(vx)-parseFloat(vy):x.textContent.localeCompare("
    "y.textContent);return desc?-r:r;});\n"
    "   var tb=t.querySelector('tbody');rows.forEach(function(r){tb.appendChild(r);});});});});\n";

static void page_table(FILE *f, const mt_page_table *t) {
    fputs("<h2>", f);
    html_str(f, t->title);
    fputs("</h2>\n", f);
    if (t->note) {
        fputs("<p class=\"note\">", f);
        html_str(f, t->note);
        fputs("</p>\n", f);
    }
    fputs("<table class=\"sortable\"><thead><tr>", f);
    for (unsigned c = 0; c < t->ncolumns; c++) {
        fputs("<th>", f);
        html_str(f, t->columns[c]);
        fputs("</th>", f);
    }
    fputs("</tr></thead><tbody>\n", f);
    for (unsigned r = 0; r < t->nrows; r++) {
        fputs("<tr>", f);
        for (unsigned c = 0; c < t->ncolumns; c++) {
            size_t i = (size_t)r * t->ncolumns + c;
            double k = t->keys ? t->keys[i] : NAN;
            if (isnan(k)) {
                fputs(c ? "<td class=\"n\">" : "<td>", f);
            } else {
                char b[32];
                fprintf(f, "<td class=\"n\" data-v=\"%s\">", mt_pl_fmt_exact(b, k));
            }
            html_str(f, t->cells[i]);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

/* The profile over time (mt_tprof): the flame graph's tree (T), the table
 * by location and the window strip, recomputed for the weight, the thread
 * and the window of slices [s0, s1] chosen. Records are 7 numbers: stack,
 * thread, a, b, kind | flags << 2, bytes, count (mt_plot_tprof.c). */
#define TPROF_JS \
    "var W=document.getElementById('fg-weight'),TH=document.getElementById('fg-thread'),"\
    "TW=document.getElementById('tw'),TWL=document.getElementById('tw-label'),s0=1,s1=1,"\
    "NS=1,ST,R,LIVE,C;\n"\
    "var WN={peak:'heap at its peak',leak:'live at the end',alloc:'allocated',"\
    "temp:'temporaries',rss:'RSS growth'};\n"\
    "function tsec(k){return TP.t0+(TP.t1-TP.t0)*k/TP.n;}\n"\
    "function slot(t){var k=1+Math.floor((t-TP.t0)/(TP.t1-TP.t0)*TP.n);"\
    "return k<1?1:k>TP.n?TP.n:k;}\n"\
    "function secs(t){return t<1e-3?(t*1e6).toFixed(0)+' us':t<1?(t*1e3).toFixed(1)+' ms':"\
    "t.toFixed(3)+' s';}\n"\
    "function tpInit(h){ST=TP.stacks;R=TP.recs;NS=ST.length/2+1;s1=TP.n;\n"\
    " var d=new Float64Array(TP.n+3);LIVE=new Float64Array(TP.n+2);\n"\
    " for(var i=0;i<R.length;i+=7)if((R[i+4]&3)===0){d[R[i+2]]+=R[i+5];d[R[i+3]]-=R[i+5];}\n"\
    " for(var k=0,v=0;k<=TP.n;k++){v+=d[k];LIVE[k]=v;}\n"\
    " var opts=[];if(TP.has[0]||TP.has[1])opts.push('peak');if(TP.has[0])opts.push('leak',"\
    "'alloc','temp');if(TP.has[2])opts.push('rss');\n"\
    " opts.forEach(function(w){var o=document.createElement('option');o.value=w;"\
    "o.textContent=WN[w];W.appendChild(o);});\n"\
    " var w=h.weight||D.weight;if(opts.indexOf(w)>=0)W.value=w;\n"\
    " var all=TP.threads.every(function(t){return t[2];}),pick=-1;\n"\
    " TP.threads.forEach(function(t,i){var o=document.createElement('option');o.value=i;"\
    "o.textContent=(t[1]||'thread')+' (tid '+t[0]+')';TH.appendChild(o);"\
    "if(!all&&t[2]&&pick<0)pick=i;if(h.thread&&(h.thread===String(t[0])||h.thread===t[1]))"\
    "pick=i;});\n"\
    " if(pick>=0)TH.value=String(pick);\n"\
    " function cl(v,d){v=Math.round(v);return isFinite(v)?Math.max(1,Math.min(TP.n,v)):d;}\n"\
    " if(h.win){var p=h.win.split('-');if(p[0])s0=cl(slot(parseFloat(p[0])),1);"\
    "if(p[1])s1=cl(slot(parseFloat(p[1])),TP.n);if(s1<s0)s1=s0;}\n"\
    " if(h.slices){var q=h.slices.split('-');s0=cl(+q[0],1);s1=cl(q[1]?+q[1]:TP.n,TP.n);"\
    "if(s1<s0)s1=s0;}\n"\
    " T=tpTree();}\n"\
    "function tpTree(){var w=W.value,th=TH.value===''?-1:+TH.value,full=s0===1&&s1===TP.n,pk=-1;\n"\
    " if(w==='peak'&&!(full&&TP.has[1])){var best=-1;for(var k=s0;k<=s1;k++)if(LIVE[k]>best)"\
    "{best=LIVE[k];pk=k;}}\n"\
    " var own=new Float64Array(NS),cnt=new Float64Array(NS);\n"\
    " for(var i=0;i<R.length;i+=7){var kind=R[i+4]&3,a=R[i+2],b=R[i+3],ok;\n"\
    "  if(th>=0&&R[i+1]!==th)continue;\n"\
    "  if(w==='rss')ok=kind===2&&a>=s0&&a<=s1;\n"\
    "  else if(w==='peak')ok=pk<0?kind===1:kind===0&&a<=pk&&b>pk;\n"\
    "  else ok=kind===0&&a>=s0&&a<=s1&&(w==='alloc'||(w==='temp'&&(R[i+4]&4))||"\
    "(w==='leak'&&b>s1));\n"\
    "  if(ok){own[R[i]]+=R[i+5];cnt[R[i]]+=R[i+6];}}\n"\
    " if(w==='rss')for(var s=0;s<NS;s++)if(own[s]<0)own[s]=0;\n"\
    " C={own:own,cnt:cnt,pk:pk,w:w};var tot=new Float64Array(own);\n"\
    " for(s=NS-1;s>0;s--)tot[ST[2*s-2]]+=tot[s];\n"\
    " var N=[{name:'all',total:tot[0],parent:-1}];\n"\
    " for(s=1;s<NS;s++){var f=TP.frames[ST[2*s-1]];N.push({name:f[0],where:f[1],"\
    "parent:ST[2*s-2],total:tot[s]});}\n"\
    " return{nodes:N};}\n"\
    "function esc(t){return String(t).replace(/[&<>\"]/g,function(c){return{'&':'&amp;',"\
    "'<':'&lt;','>':'&gt;','\"':'&quot;'}[c];});}\n"\
    "function tpTable(){var tb=document.querySelector('#loc tbody');if(!tb)return;var m={},own=C.own;\n"\
    " function ent(s){var f=TP.frames[ST[2*s-1]],k=f[0]+'\\x1f'+f[1];return m[k]||(m[k]={f:f,"\
    "own:0,tot:0,n:0,seen:-1});}\n"\
    " for(var s=1;s<NS;s++){if(!own[s])continue;var e=ent(s);e.own+=own[s];e.n+=C.cnt[s];\n"\
    "  for(var a=s;a>0;a=ST[2*a-2]){var E=ent(a);if(E.seen!==s){E.seen=s;E.tot+=own[s];}}}\n"\
    " var rows=Object.keys(m).map(function(k){return m[k];}).filter(function(e){return e.tot>0;})"\
    ".sort(function(a,b){return b.own-a.own||b.tot-a.tot;});\n"\
    " var nr=rows.length;rows=rows.slice(0,200);\n"\
    " tb.innerHTML=rows.map(function(e){var wh=e.f[1],src=SRC[wh];return '<tr><td title=\"'+"\
    "esc(src?wh+'\\n    '+src:wh)+'\">'+esc(e.f[0])+(wh?'  <span class=\"note\">'+esc(wh)+"\
    "'</span>':'')+'</td><td class=\"n\" data-v=\"'+e.own+'\">'+fmt(e.own)+'</td><td class=\"n\" "\
    "data-v=\"'+e.tot+'\">'+fmt(e.tot)+'</td><td class=\"n\" data-v=\"'+e.n+'\">'+"\
    "(C.w==='rss'?'':Math.round(e.n))+'</td></tr>';}).join('');\n"\
    " document.getElementById('loc-title').textContent='By location: '+WN[C.w]+"\
    "(s0===1&&s1===TP.n?'':' in '+secs(tsec(s0-1))+' to '+secs(tsec(s1)));\n"\
    " document.getElementById('loc-note').textContent=nr+' locations'+(nr>200?', the 200 "\
    "that own the most shown':'')+'. Own: at that line (the innermost frame); total: by the "\
    "stacks through it'+(C.w==='rss'?'':'; blocks: allocations owned')+'. Click a heading to "\
    "sort.';}\n"\
    "function tpStrip(){var Wd=box.clientWidth,H=64,n=TP.n,mx=1,i,k,rs=[],last=null;\n"\
    " for(k=1;k<=n;k++){if(TP.rss[k-1]!==null)last=TP.rss[k-1];rs.push(last);"\
    "mx=Math.max(mx,LIVE[k],last||0);}\n"\
    " function X(k){return(k/n*Wd).toFixed(1);}function Y(v){return(H-2-v/mx*(H-6)).toFixed(1);}\n"\
    " var hp='M0,'+(H-2);for(k=1;k<=n;k++)hp+='L'+X(k-1)+','+Y(LIVE[k])+'L'+X(k)+','+Y(LIVE[k]);"\
    "hp+='L'+Wd+','+(H-2)+'Z';\n"\
    " var rp='';for(k=1;k<=n;k++)if(rs[k-1]!==null)rp+=(rp?'L':'M')+X(k-1)+','+Y(rs[k-1])+'L'+"\
    "X(k)+','+Y(rs[k-1]);\n"\
    " var sv='<svg width=\"'+Wd+'\" height=\"'+H+'\" xmlns=\"http://www.w3.org/2000/svg\">'+"\
    "'<rect width=\"'+Wd+'\" height=\"'+H+'\" fill=\"#fafafa\"/>'+(TP.has[0]?'<path d=\"'+hp+"\
    "'\" fill=\"#9ecae1\"/>':'')+(rp?'<path d=\"'+rp+'\" fill=\"none\" stroke=\"#d62728\" "\
    "stroke-width=\"1.2\"/>':'')+'<rect id=\"tw-sel\" x=\"'+X(s0-1)+'\" y=\"0\" width=\"'+"\
    "(X(s1)-X(s0-1)).toFixed(1)+'\" height=\"'+H+'\" fill=\"rgba(255,165,0,.25)\" "\
    "stroke=\"#e08000\"/>'+(C&&C.pk>0?'<line x1=\"'+X(C.pk)+'\" x2=\"'+X(C.pk)+'\" y1=\"0\" "\
    "y2=\"'+H+'\" stroke=\"#000\" stroke-dasharray=\"3,2\"/>':'')+'</svg>';\n"\
    " TW.innerHTML=sv;TW.setAttribute('data-window',s0+'-'+s1);TW.setAttribute('data-n',TP.n);\n"\
    " TWL.textContent=(s0===1&&s1===TP.n?'Whole run: ':'Window: ')+secs(tsec(s0-1))+' to '+"\
    "secs(tsec(s1))+' of '+secs(TP.t0)+' to '+secs(TP.t1)+' ('+n+' slices of '+secs((TP.t1-"\
    "TP.t0)/n)+')'+(C&&C.pk>0?'; the heap peaks in it at '+secs(tsec(C.pk))+' (dashed), to one "\
    "slice':'')+'.';}\n"\
    "function tpUpdate(){T=tpTree();remake();tpTable();tpStrip();}\n"\
    "function tpRest(){tpTable();tpStrip();\n"\
    " W.addEventListener('change',tpUpdate);TH.addEventListener('change',tpUpdate);\n"\
    " document.getElementById('tw-all').addEventListener('click',function(){s0=1;s1=TP.n;"\
    "tpUpdate();});\n"\
    " var x0=null;function kx(e){var r=TW.getBoundingClientRect();return Math.max(0,"\
    "Math.min(r.width-0.01,e.clientX-r.left))/r.width;}\n"\
    " TW.addEventListener('pointerdown',function(e){x0=kx(e);TW.setPointerCapture(e.pointerId);"\
    "e.preventDefault();});\n"\
    " TW.addEventListener('pointermove',function(e){if(x0===null)return;var x=kx(e),a=Math.min(x,"\
    "x0),b=Math.max(x,x0),r=document.getElementById('tw-sel');if(r){r.setAttribute('x',"\
    "(a*TW.clientWidth).toFixed(1));r.setAttribute('width',((b-a)*TW.clientWidth).toFixed(1));}});\n"\
    " TW.addEventListener('pointerup',function(e){if(x0===null)return;var x=kx(e),a=Math.min(x,"\
    "x0),b=Math.max(x,x0);x0=null;if((b-a)*TW.clientWidth<3){tpStrip();return;}\n"\
    "  s0=1+Math.floor(a*TP.n);s1=1+Math.floor(b*TP.n);if(s1>TP.n)s1=TP.n;tpUpdate();});\n"\
    " TW.addEventListener('dblclick',function(){s0=1;s1=TP.n;tpUpdate();});}\n"

/* The renderer. Rows of 16 px, root at the top (an icicle); the frame in
 * focus spans the width, its callers above it at full width and dimmed,
 * its callees below by share; frames under a pixel are not drawn. */
static const char page_js[] =
    "(function(){\n"
    "var D=JSON.parse(document.getElementById('fg-data').textContent),U=D.unit,T=D.tree,"
    "SRC=D.src||{},TP=D.tp;\n"
    "function lab(s){var i=s.indexOf('\\x1f');return i<0?s:s.slice(0,i);}\n"
    "function loc(s){var i=s.indexOf('\\x1f');return i<0?'':s.slice(i+1);}\n"
    "var box=document.getElementById('fg'),info=document.getElementById('fg-info');\n"
    "var q=document.getElementById('fg-search'),hide=document.getElementById('fg-hide'),"
    "hidem=document.getElementById('fg-hidem');\n"
    "var MTR=/(^|\\/)memtrace\\/[^\\/]*\\.py(:|$)/;\n"
    "var IMP=/^(<frozen importlib|_find_and_load|_find_and_load_unlocked|_load_unlocked|"
    "_call_with_frames_removed|_handle_fromlist|_gcd_import|import_module|module_from_spec|"
    "_load|_LoaderBasics\\.exec_module|SourceLoader\\.get_code|SourceFileLoader\\.get_data|"
    "FileLoader\\.get_data|_compile_bytecode|ExtensionFileLoader\\.(create|exec)_module|"
    "_bootstrap\\._load)$/;\n"
    "function fmt(v){if(U!=='bytes')return String(Math.round(v));var u=['B','KiB','MiB','GiB',"
    "'TiB'],i=0;while(Math.abs(v)>=1024&&i<4){v/=1024;i++;}return(i?v.toFixed(1):"
    "String(Math.round(v)))+' '+u[i];}\n"
    "function build(h,hm){var N=T.nodes,o=new Array(N.length),r={name:'all',total:N[0].total,"
    "kids:[],m:{},parent:null,depth:0};o[0]=r;\n"
    " for(var i=1;i<N.length;i++){var n=N[i],p=o[n.parent],nm=n.where?n.name+'\\x1f'+n.where:"
    "n.name;if((h&&IMP.test(n.name))||(hm&&MTR.test(n.where||''))){o[i]=p;continue;}"
    "if(!(n.total>0)){o[i]=p;continue;}\n"
    "  var k=p.m[nm];if(!k){k={name:nm,total:0,kids:[],m:{},parent:p,depth:p.depth+1};"
    "p.m[nm]=k;p.kids.push(k);}k.total+=n.total;o[i]=k;}\n"
    " (function s(n){n.kids.sort(function(a,b){return b.total-a.total;});n.kids.forEach(s);})"
    "(r);return r;}\n"
    "function hue(s){var h=0;for(var i=0;i<s.length;i++)h=(h*31+s.charCodeAt(i))>>>0;"
    "return 'hsl('+(h%55)+','+(60+h%30)+'%,'+(55+(h>>8)%15)+'%)';}\n"
    "function invert(r){var ir={name:'all',total:0,kids:[],m:{},parent:null,depth:0};\n"
    " (function walk(n){var self=n.total;n.kids.forEach(function(k){self-=k.total;walk(k);});\n"
    "  if(n===r||!(self>0))return;ir.total+=self;var cur=ir;\n"
    "  for(var a=n;a&&a!==r;a=a.parent){var k=cur.m[a.name];if(!k){k={name:a.name,total:0,"
    "kids:[],m:{},parent:cur,depth:cur.depth+1};cur.m[a.name]=k;cur.kids.push(k);}"
    "k.total+=self;cur=k;}})(r);\n"
    " (function s(n){n.kids.sort(function(a,b){return b.total-a.total;});n.kids.forEach(s);})"
    "(ir);return ir;}\n"
    TPROF_JS
    "var view=document.getElementById('fg-view');\n"
    "function make(){var r=build(hide.checked,hidem&&hidem.checked);return view.value==="
    "'inverted'?invert(r):r;}\n"
    "var root,focus,ROW=16,MAXN=20000;\n"
    "function path(n){var a=[];for(;n;n=n.parent)a.unshift(n);return a;}\n"
    "function node(n,x,w,y,anc){var d=document.createElement('div');d.className='fg-n'+"
    "(anc?' fg-anc':'');\n"
    " d.style.left=x.toFixed(1)+'px';d.style.top=y+'px';d.style.width=Math.max(w,1).toFixed(1)+"
    "'px';var L=lab(n.name),W2=loc(n.name);d.style.background=n===root?'#d8d8d8':hue(L);\n"
    " d.textContent=w>30?L+(W2&&w>300?'  '+W2.replace(/^.*\\//,''):''):'';\n"
    " d.title=L+(W2?'\\n'+W2+(SRC[W2]?'\\n    '+SRC[W2]:''):'')+'\\n'+fmt(n.total)+' ('+"
    "(100*n.total/root.total).toFixed(2)+'% of all, '+(100*n.total/focus.total).toFixed(2)+"
    "'% of the zoom)';\n"
    " d.setAttribute('data-name',L);if(W2)d.setAttribute('data-loc',W2);d.setAttribute('data-depth',n.depth);"
    "d.setAttribute('data-w',(100*w/box.clientWidth).toFixed(2));d._n=n;d._y=y;"
    "box.appendChild(d);return d;}\n"
    "function render(){box.innerHTML='';var W=box.clientWidth,y=0,count=0,deep=0;\n"
    " path(focus).forEach(function(a){node(a,0,W,y,a!==focus);y+=ROW;});var y0=y-ROW;\n"
    " (function kids(n,x,w,yy){var s=x;n.kids.forEach(function(k){var kw=w*k.total/n.total;"
    "if(kw>=1&&count<MAXN){count++;node(k,s,kw,yy,false);if(yy>deep)deep=yy;"
    "kids(k,s,kw,yy+ROW);}s+=kw;});})(focus,0,W,y0+ROW);\n"
    " var H=Math.max(deep,y0);box.style.height=(H+ROW+2)+'px';\n"
    " if(view.value==='flame')Array.prototype.forEach.call(box.children,function(d){"
    "d.style.top=(H-d._y)+'px';});\n"
    " mark();}\n"
    "function mark(){var t=q.value.toLowerCase(),sum=0,nm=0;\n"
    " Array.prototype.forEach.call(box.children,function(d){var on=!!t&&d._n.name.toLowerCase()"
    ".indexOf(t)>=0;d.classList.toggle('fg-match',on);});\n"
    " if(t)(function walk(n){if(n.name.toLowerCase().indexOf(t)>=0&&n!==root){sum+=n.total;"
    "nm++;return;}n.kids.forEach(walk);})(focus);\n"
    " info.textContent=t?('\"'+q.value+'\": '+nm+' frames, '+fmt(sum)+' ('+(100*sum/"
    "focus.total).toFixed(2)+'% of '+(focus===root?'all':lab(focus.name))+')'):(focus===root?'':"
    "'zoomed into '+lab(focus.name)+': '+fmt(focus.total));\n"
    " info.setAttribute('data-share',t?(100*sum/focus.total).toFixed(2):'');"
    "info.setAttribute('data-total',String(Math.round(root.total)));}\n"
    "function find(n,name){if(n.name===name||lab(n.name)===name)return n;for(var i=0;i<n.kids.length;i++){"
    "var r=find(n.kids[i],name);if(r)return r;}return null;}\n"
    "box.addEventListener('click',function(e){var d=e.target;if(d&&d._n){focus=d._n===focus&&"
    "focus.parent?focus.parent:d._n;render();}});\n"
    "document.getElementById('fg-reset').addEventListener('click',function(){focus=root;"
    "render();});\n"
    "q.addEventListener('input',mark);\n"
    "function remake(){var name=focus.name;root=make();focus=find(root,name)||root;render();}\n"
    "hide.addEventListener('change',remake);view.addEventListener('change',remake);\n"
    "if(hidem)hidem.addEventListener('change',remake);\n"
    "var h={};location.hash.replace(/^#/,'').split('&').forEach(function(p){var i=p.indexOf('=');"
    "if(i>0)h[p.slice(0,i)]=decodeURIComponent(p.slice(i+1));});\n"
    "if(h.hide==='1')hide.checked=true;\n"
    "if(h.hidem==='1'&&hidem)hidem.checked=true;\n"
    "if(h.view==='flame'||h.view==='inverted')view.value=h.view;\n"
    "if(TP)tpInit(h);\n"
    "root=make();focus=root;\n"
    "if(h.search)q.value=h.search;\n"
    "if(h.zoom)focus=find(root,h.zoom)||root;\n"
    "render();if(TP)tpRest();window.addEventListener('resize',function(){render();"
    "if(TP)tpStrip();});\n"
    "})();\n";

int mt_page_write(FILE *f, const mt_page *pg) {
    if (!f || !pg) return MT_PLOT_ERR_ARG;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
    html_str(f, pg->title);
    fputs(" - memtrace</title>\n<style>\n", f);
    fputs(page_css, f);
    fputs("</style></head><body>\n<h1>", f);
    html_str(f, pg->title);
    fputs("</h1>\n", f);
    if (pg->subtitle && *pg->subtitle) {
        fputs("<p class=\"sub\">", f);
        html_str(f, pg->subtitle);
        fputs("</p>\n", f);
    }
    if (pg->ncolumns) {
        fputs("<table><tr>", f);
        for (unsigned c = 0; c < pg->ncolumns; c++) {
            fputs("<th>", f);
            html_str(f, pg->columns[c]);
            fputs("</th>", f);
        }
        fputs("</tr>\n", f);
        for (unsigned r = 0; r < pg->nrows; r++) {
            fputs("<tr>", f);
            for (unsigned c = 0; c < pg->ncolumns; c++) {
                const char *v = pg->cells[r * pg->ncolumns + c];
                int warn = v && v[0] == '!';
                fputs(c == 0 ? "<td>" : warn ? "<td class=\"n warn\">" : "<td class=\"n\">", f);
                html_str(f, warn ? v + 1 : v);
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    int rc = 0;
    for (int part = 0; part < 2 && rc >= 0; part++) {
        int is_flame = pg->flame_first ? part == 0 : part == 1;
        if (!is_flame && pg->timeline) {
            fputs("<h2>Memory over time</h2>\n<p class=\"note\">RSS (and the heap when the trace "
                  "has allocations) over time; each thread's calls beneath. Hover a band or a "
                  "marker for details.</p>\n", f);
            rc = timeline_frame(f, pg->timeline, pg->timeline_width, pg->timeline_height);
        } else if (is_flame && pg->tprof) {
            fputs("<h2>", f);
            html_str(f, pg->flame_title ? pg->flame_title : "Memory by stack");
            fputs("</h2>\n<p class=\"note\">Choose what the widths are (the heap at its peak, "
                  "what is still live at the end, everything allocated, temporaries freed "
                  "within their call, RSS growth while a frame was on top), a thread, and a "
                  "window: drag across the strip (the heap in blue, RSS in red) and the flame "
                  "graph and the table below are recomputed for that part of the run "
                  "(double-click or \"whole run\" to reset). Click a frame to zoom into it "
                  "(again: back out), search to highlight, hover for file:line, the source "
                  "line and the share.</p>\n"
                  "<div id=\"fg-controls\"><select id=\"fg-weight\" aria-label=\"weight\">"
                  "</select> <select id=\"fg-thread\" aria-label=\"thread\"><option "
                  "value=\"\">all threads</option></select> <input type=\"search\" "
                  "id=\"fg-search\" placeholder=\"search functions\" aria-label=\"search "
                  "functions\"> <button id=\"fg-reset\">reset zoom</button> <select "
                  "id=\"fg-view\" aria-label=\"view\"><option value=\"icicle\">icicle "
                  "(callers on top)</option><option value=\"flame\">flame (callers at the "
                  "bottom)</option><option value=\"inverted\">inverted (allocating "
                  "functions on top)</option></select> <label><input type=\"checkbox\" "
                  "id=\"fg-hide\"> hide import system</label> <label><input "
                  "type=\"checkbox\" id=\"fg-hidem\"> hide memtrace frames</label>"
                  "<span id=\"fg-info\"></span></div>\n<div id=\"tw-box\"><div "
                  "id=\"tw\"></div><div id=\"tw-label\"></div><button id=\"tw-all\">whole "
                  "run</button></div>\n<div id=\"fg\"></div>\n<h2 id=\"loc-title\">By "
                  "location</h2>\n<p class=\"note\" id=\"loc-note\"></p>\n<table "
                  "class=\"sortable\" id=\"loc\"><thead><tr><th>location</th><th>own</th>"
                  "<th>total</th><th>blocks</th></tr></thead><tbody></tbody></table>\n", f);
            rc = tprof_data(f, pg);
            fputs("<script>\n", f);
            fputs(page_js, f);
            fputs("</script>\n", f);
        } else if (is_flame && pg->flame) {
            fputs("<h2>", f);
            html_str(f, pg->flame_title ? pg->flame_title : "Flame graph");
            fputs("</h2>\n", f);
            if (mt_flame_total(pg->flame) > 0) {
                fputs("<p class=\"note\">Callers above callees; a frame's width is its share. "
                      "Click a frame to zoom into it (again: back out), search to highlight; "
                      "hover for its size and share. Inverted: the functions that allocated "
                      "(or grew) first, their callers beneath.</p>\n"
                      "<div id=\"fg-controls\"><input type=\"search\" id=\"fg-search\" "
                      "placeholder=\"search functions\" aria-label=\"search functions\"> "
                      "<button id=\"fg-reset\">reset zoom</button> <select id=\"fg-view\" "
                      "aria-label=\"view\"><option value=\"icicle\">icicle (callers "
                      "on top)</option><option value=\"flame\">flame (callers at the "
                      "bottom)</option><option value=\"inverted\">inverted (allocating "
                      "functions on top)</option></select> <label><input "
                      "type=\"checkbox\" id=\"fg-hide\"> hide import system</label>"
                      "<span id=\"fg-info\"></span></div>\n<div id=\"fg\"></div>\n", f);
                rc = flame_data(f, pg->flame, pg->flame_unit, pg->sources, pg->nsources);
                fputs("<script>\n", f);
                fputs(page_js, f);
                fputs("</script>\n", f);
            } else {
                fputs("<p class=\"note\">Nothing to draw: no stack has any weight here (no "
                      "allocations in the window, or no growth while a call ran).</p>\n", f);
            }
        }
    }
    for (unsigned i = 0; i < pg->ntables; i++) page_table(f, &pg->tables[i]);
    if (pg->ntables || pg->tprof) {
        fputs("<script>\n", f);
        fputs(sort_js, f);
        fputs("</script>\n", f);
    }
    if (pg->footer) {
        fputs("<p class=\"note\">", f);
        html_str(f, pg->footer);
        fputs("</p>\n", f);
    }
    fputs("</body></html>\n", f);
    if (rc < 0) return rc;
    return ferror(f) ? MT_PLOT_ERR_IO : 0;
}
