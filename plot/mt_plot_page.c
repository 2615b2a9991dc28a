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
 * tests: #search=TEXT&zoom=NAME&hide=1&view=icicle|flame|inverted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_plot_internal.h"

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

/* A JSON string inside a <script> element: "</" written "<\/" so that no
 * text can end the element. */
static void json_script(FILE *f, const char *s) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    if (!m) return;
    mt_plot_json_str(m, s);
    fclose(m);
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '<' && i + 1 < n && buf[i + 1] == '/') fputs("<\\", f);
        else fputc(buf[i], f);
    }
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
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '<' && i + 1 < n && buf[i + 1] == '/') fputs("<\\", f);
        else fputc(buf[i], f);
    }
    fputs("}</script>\n", f);
    free(buf);
    return 0;
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
    "table.sortable td:first-child{white-space:normal;max-width:60em}\n";

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

/* The renderer. Rows of 16 px, root at the top (an icicle); the frame in
 * focus spans the width, its callers above it at full width and dimmed,
 * its callees below by share; frames under a pixel are not drawn. */
static const char page_js[] =
    "(function(){\n"
    "var D=JSON.parse(document.getElementById('fg-data').textContent),U=D.unit,T=D.tree,"
    "SRC=D.src||{};\n"
    "function lab(s){var i=s.indexOf('\\x1f');return i<0?s:s.slice(0,i);}\n"
    "function loc(s){var i=s.indexOf('\\x1f');return i<0?'':s.slice(i+1);}\n"
    "var box=document.getElementById('fg'),info=document.getElementById('fg-info');\n"
    "var q=document.getElementById('fg-search'),hide=document.getElementById('fg-hide');\n"
    "var IMP=/^(<frozen importlib|_find_and_load|_find_and_load_unlocked|_load_unlocked|"
    "_call_with_frames_removed|_handle_fromlist|_gcd_import|import_module|module_from_spec|"
    "_load|_LoaderBasics\\.exec_module|SourceLoader\\.get_code|SourceFileLoader\\.get_data|"
    "FileLoader\\.get_data|_compile_bytecode|ExtensionFileLoader\\.(create|exec)_module|"
    "_bootstrap\\._load)$/;\n"
    "function fmt(v){if(U!=='bytes')return String(Math.round(v));var u=['B','KiB','MiB','GiB',"
    "'TiB'],i=0;while(Math.abs(v)>=1024&&i<4){v/=1024;i++;}return(i?v.toFixed(1):"
    "String(Math.round(v)))+' '+u[i];}\n"
    "function build(h){var N=T.nodes,o=new Array(N.length),r={name:'all',total:N[0].total,"
    "kids:[],m:{},parent:null,depth:0};o[0]=r;\n"
    " for(var i=1;i<N.length;i++){var n=N[i],p=o[n.parent],nm=n.where?n.name+'\\x1f'+n.where:"
    "n.name;if(h&&IMP.test(n.name)){o[i]=p;continue;}\n"
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
    "var view=document.getElementById('fg-view');\n"
    "function make(){var r=build(hide.checked);return view.value==='inverted'?invert(r):r;}\n"
    "var root=build(false),focus=root,ROW=16,MAXN=20000;\n"
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
    " info.setAttribute('data-share',t?(100*sum/focus.total).toFixed(2):'');}\n"
    "function find(n,name){if(n.name===name||lab(n.name)===name)return n;for(var i=0;i<n.kids.length;i++){"
    "var r=find(n.kids[i],name);if(r)return r;}return null;}\n"
    "box.addEventListener('click',function(e){var d=e.target;if(d&&d._n){focus=d._n===focus&&"
    "focus.parent?focus.parent:d._n;render();}});\n"
    "document.getElementById('fg-reset').addEventListener('click',function(){focus=root;"
    "render();});\n"
    "q.addEventListener('input',mark);\n"
    "function remake(){var name=focus.name;root=make();focus=find(root,name)||root;render();}\n"
    "hide.addEventListener('change',remake);view.addEventListener('change',remake);\n"
    "var h={};location.hash.replace(/^#/,'').split('&').forEach(function(p){var i=p.indexOf('=');"
    "if(i>0)h[p.slice(0,i)]=decodeURIComponent(p.slice(i+1));});\n"
    "if(h.hide==='1')hide.checked=true;\n"
    "if(h.view==='flame'||h.view==='inverted')view.value=h.view;\n"
    "root=make();focus=root;\n"
    "if(h.search)q.value=h.search;\n"
    "if(h.zoom)focus=find(root,h.zoom)||root;\n"
    "render();window.addEventListener('resize',render);\n"
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
    if (pg->ntables) {
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
