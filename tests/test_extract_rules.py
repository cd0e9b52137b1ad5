"""Boilerplate, title and byline rules of search.ingest, each on a small readable page."""

from __future__ import annotations

import pytest

from search.ingest import extract_html, parse_byline

LEAD = "央视网消息（新闻联播）：本台今天（9月9日）播发央视快评《坚持多边主义 坚持开放共赢 坚持团结合作》。"

PARAS = [
    "像许多日本女性一样，顺子一直等到30岁出头才结婚。在决定结婚后，顺子便把精力放在建立新家庭上，"
    "夫妇二人结婚十五年，至今没有孩子，这在当地并不少见。",
    "据当地媒体报道，每年平均有两百名女性到东京郊区的一家诊所寻求帮助。诊所的所长介绍，"
    "她们都爱自己的丈夫，也都不想离婚，只是希望找回夫妻之间的亲密。",
    "调查发现，受访女性中有四分之一在过去一年里与丈夫很少交流。一位男子在接受采访时说："
    "“与其说我们是夫妻，不如说我们是室友。”",
]


def page(body: str, title: str = "某某新闻网") -> bytes:
    return f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>{body}</body></html>".encode()


def link_list(n: int, label: str = "热播") -> str:
    return "<ul>" + "".join(f'<li><a href="/v{i}.html">{label}节目第{i}期精彩内容回顾</a></li>' for i in range(n)) + "</ul>"


# ----------------------------------------------------------------- a CCTV-like video page


def cctv_like_page() -> bytes:
    title = "[视频]央视快评：坚持多边主义 坚持开放共赢 坚持团结合作"
    return page(f"""
<div class="nav">{link_list(12, "栏目")}</div>
<div class="playingVideo"><div class="tit">{title}</div></div>
<div class="playingCon">
  <span class="laiyuan">来源 : 央视网</span><span class="time">2025-09-09 19:08</span>
  <div class="nrjianjie_shadow" style="display: none;"><ul><li><div class="tit">视频简介</div>
    <p>央视快评：坚持多边主义、坚持开放共赢、坚持团结合作。</p></li></ul></div>
</div>
<div class="phone_all">
  <div class="ph_title_l">{title}</div><div class="ph_title_r">简介</div>
  <div class="laiyuan">来源：央视网    更新时间：2025年09月09日 19:08</div>
  <ul><li><div class="video_title">视频简介</div>
    <div class="video_brief">央视快评：坚持多边主义、坚持开放共赢、坚持团结合作。</div></li></ul>
</div>
<div class="title_con"><div id="content">
  <div class="contit"><span>主要内容</span></div>
  <div class="content_area" id="content_area"><p><strong>央视网消息</strong>（新闻联播）：本台今天（9月9日）播发央视快评《坚持多边主义 坚持开放共赢 坚持团结合作》。</p></div>
  <div class="zebian"><span>编辑：杨书杰</span> <span id="zb">责任编辑：刘亮</span></div>
</div></div>
<div class="rebo"><h3>热播榜</h3>{link_list(30)}</div>
""", title=f"{title}_新闻频道_央视网(cctv.com)")


def test_cctv_video_page_keeps_only_the_story():
    art = extract_html(cctv_like_page())
    assert art.body == LEAD  # no 视频简介 / 简介 / 来源：… 更新时间：… / 主要内容 / 编辑：… lines
    assert art.title == "央视快评：坚持多边主义 坚持开放共赢 坚持团结合作"


def test_cctv_video_page_byline():
    art = extract_html(cctv_like_page())
    assert set(art.authors) == {"杨书杰", "刘亮"}  # "责任编辑" is a role, never a name
    assert art.source == "央视网"


def test_hidden_brief_is_not_read():
    html = page(f"""<h1>某县召开防汛工作会议</h1>
<div style="display:none"><p>这是一段隐藏的弹出层文字，读者看不到它，它也不属于文章正文的任何部分，只是模板留下的。</p></div>
<div class="article"><p>{PARAS[0]}</p><p>{PARAS[1]}</p></div>""", title="某县召开防汛工作会议_某某网")
    art = extract_html(html)
    assert "隐藏" not in art.body
    assert art.body.split("\n") == PARAS[:2]


def test_id_hidden_by_the_pages_style_sheet_is_not_read():
    # "#title_desc { display: none; }" hides a copy of the lead kept for a share script; a rule
    # inside @media hides its element on some screens only, so that element's text stays
    html = page(f"""<style>/* share */ #title_desc {{ display: none; }}
@media (max-width: 600px) {{ #wide {{ display: none }} }}</style>
<h1>某县召开防汛工作会议</h1><div class="article"><p>{PARAS[0]}</p><p id="wide">{PARAS[1]}</p></div>
<div id="title_desc"><p>这是一段写给分享脚本的导语副本，读者看不到它，它在页面的最后，也不属于文章正文的任何部分。</p></div>""",
                title="某县召开防汛工作会议_某某网")
    assert extract_html(html).body.split("\n") == PARAS[:2]


def test_class_none_is_hidden_unless_shown_again():
    # a saved video player's overlays carry the CSS-reset class "none" ("txp_none"); Bootstrap's
    # "d-none d-md-block" is hidden on phones only, so its text is what a desktop reader sees
    overlay = ('<div class="txp_video_error txp_none"><p>腾讯视频网络链接似乎出现问题，你可以或试试使用PC客户端播放更稳定，'
               '立即下载返回继续播放或使用最新浏览器观看</p></div>')
    html = page(f"""<h1>某县召开防汛工作会议</h1><div class="article">{overlay}<p>{PARAS[0]}</p>
<p class="d-none d-md-block">{PARAS[1]}</p><p class="d-none">{PARAS[2]}</p></div>""", title="某县召开防汛工作会议_某某网")
    assert extract_html(html).body.split("\n") == PARAS[:2]


# ----------------------------------------------------------------- a copyright-heavy page


def copyright_heavy_page() -> bytes:
    paras = "".join(f"<p>{p}" for p in PARAS)  # unclosed <p>, as in 2005 table layouts
    related = "".join(f'<br>·<a href="/r{i}.html">相关报道标题第{i}条在这里展示给读者看看</a>（2005-04-0{i % 9 + 1}）'
                      for i in range(12))
    ads = "".join(f'<a href="/ad{i}.html">招商加盟项目{i}号 轻松致富</a><br>' for i in range(25))
    notice = ("本网站的所有内容均由其内容合作方根据协议提供。根据有关著作权的法律规定，除著作权人声明不得转载的以外，"
              "我们有权转载已在报刊上刊登或者网络上传播的作品，并按照有关规定向著作权人支付稿酬、注明出处。"
              "如果您发现本网站转载了您拥有著作权的作品并对稿酬有疑议，请与我们联系。")
    return page(f"""<table><tr><td>{link_list(10, "频道")}</td></tr></table>
<table><tr valign="top"><td width="580">
<b style="font-size:20px;">多数夫妻生活有名无实 无性婚姻问题严重</b>
<table><tr><td class="ygg">2005-04-05 06:40更新 来源：新闻晨报</td></tr></table>
{paras}<p>来源：新闻晨报<p>编辑：山石<p>相关报道：{related}
<p><a href="/send">发送给朋友</a> <a href="/print">打印本文</a>
<table><tr><td>{ads}</td></tr></table>
</td><td>{link_list(20, "推荐")}</td></tr></table>
<table><tr><td class="sbody"><b>本网著作权声明</b></td></tr><tr><td class="sbody">{notice}</td></tr>
<tr><td class="sbody">本网在网上传输的所有内容均由内容合作方提供，该等内容合作方负责其所发布内容的真实性、准确性和合法性。</td></tr>
</table>""", title="多数夫妻生活有名无实 无性婚姻问题严重--某某新闻")


def test_copyright_notice_is_not_the_article():
    art = extract_html(copyright_heavy_page())
    assert "著作权" not in art.body and "合法性" not in art.body
    for p in PARAS:
        assert p in art.body
    assert "招商加盟" not in art.body


def test_copyright_heavy_page_byline():
    art = extract_html(copyright_heavy_page())
    assert "山石" in art.authors
    assert art.source == "新闻晨报"


# ----------------------------------------------------------------- banner titles


def test_site_banner_title_is_never_chosen():
    html = page(f"""<div class="menu">{link_list(15, "栏目")}</div>
<table><tr><td><font size="5">我是怎样卷入那场运动的</font></td></tr>
<tr><td><p>我是怎样卷入那场运动的</p><p>茉莉</p>
<p>{PARAS[0]}</p><p>{PARAS[1]}</p><p>{PARAS[2]}</p></td></tr></table>""", title="谢谢您访问〖关注某某中心〗")
    art = extract_html(html)
    assert "谢谢" not in art.title and "访问" not in art.title
    assert art.title == "我是怎样卷入那场运动的"
    assert "茉莉" in art.authors  # the name alone under the headline is the author


def test_two_character_title_is_a_leftover():
    html = page(f"""<div>比赛革命的革命</div><div>胡平</div>
<div><p>{PARAS[0]}</p><p>{PARAS[1]}</p><p>{PARAS[2]}</p></div>""", title="显示")
    art = extract_html(html)
    assert art.title == "比赛革命的革命"
    assert "胡平" in art.authors


def test_headline_from_heading_when_no_title_and_comments_dropped():
    comments = "".join(
        f'<h4><a href="#c{i}">#</a> re: 很高兴入住博客堂 <span>2004-12-27 12:{i:02d}</span> <a>网友{i}</a></h4>'
        f"<p>说得很好，期待以后多多交流技术心得，第{i}位读者留言支持一下博主。</p>" for i in range(40)
    )
    html = f"""<html><body><h1>李建忠</h1><div id="main"><div class="post"><h2><a href="/p">很高兴入住博客堂</a></h2>
<p>{PARAS[0]}</p><p>{PARAS[1]}</p><p class="postfoot">发表于 2004年12月27日 12:40 - (阅读:3727;评论:63)</p></div>
<div id="comments"><h3>评论</h3>{comments}</div></div></body></html>""".encode()
    art = extract_html(html)
    assert art.title == "很高兴入住博客堂"
    assert art.body.split("\n") == PARAS[:2]


# ----------------------------------------------------------------- bylines


@pytest.mark.parametrize(
    ("line", "names", "source"),
    [
        ("编辑：杨书杰 责任编辑：刘亮", ["杨书杰", "刘亮"], None),
        ("来源：央视网 更新时间：2025年09月09日 19:08", [], "央视网"),
        ("本报记者 张三 李四 通讯员 王五", ["张三", "李四", "王五"], None),
        ("新京报记者 彭冲 山东冠县报道 【编辑:刘欢】", ["彭冲", "刘欢"], None),
        ("顶端新闻·河南商报记者马俊峰/文", ["马俊峰"], None),
        ("文/赵六 图/钱七", ["赵六", "钱七"], None),
        ("蔡雪婧/摄", ["蔡雪婧"], None),
        ("本文来源：证券市场红周刊 责任编辑：杨倩_NF4425", ["杨倩"], "证券市场红周刊"),
        ("作者: 赵 培：北京物资学院，北京", ["赵培"], None),
        ("2004年7月16日08:19 [ 黄宇 ] 来源：[ 国际金融报 ]", ["黄宇"], "国际金融报"),
        ("来源: 尹娟 【发表评论】【关闭窗口】", [], "尹娟"),
    ],
)
def test_byline_split_into_names(line, names, source):
    assert parse_byline([line]) == (names, source)


@pytest.mark.parametrize(
    "line",
    [
        "作者：未知 责任编辑：已推荐",  # placeholders and widget words
        '作者： size="20" 来源： size="20"',  # markup left in the template
        "记者了解到，涉事项目的名称为某某小区",  # prose that starts with 记者
        "责任编辑：NF055",  # a CMS user code
        "作者：name, email@gmail.com",  # a template placeholder
    ],
)
def test_byline_furniture_is_never_a_name(line):
    names, source = parse_byline([line])
    assert names == [] and source is None


def test_trailing_parenthesised_byline_and_dateline_byline():
    html = page(f"""<h1>某县举办迎新春廉洁文化活动</h1><div class="content">
<p>据新华社拉萨电（记者 格桑边觉）{PARAS[0]}</p><p>{PARAS[1]}</p><p>{PARAS[2]}（常书香 马丹阳）</p></div>""",
                title="某县举办迎新春廉洁文化活动_某某网")
    art = extract_html(html)
    assert {"格桑边觉", "常书香", "马丹阳"} <= set(art.authors)


def test_editor_line_far_below_the_story_is_found():
    qa = "".join(f"<p>问题{i}：债券市场存在泡沫吗？</p><p>{PARAS[i % 3]}</p>" for i in range(8))
    html = page(f"""<h1>债券市场是否存在泡沫</h1><div class="article">{qa}
<p>责任编辑：郭明煜</p></div>""", title="债券市场是否存在泡沫_某某财经")
    art = extract_html(html)
    assert "郭明煜" in art.authors
    assert "责任编辑" not in art.body


def test_repeated_interview_questions_are_kept():
    qa = "".join(f"<p>债券市场存在泡沫吗？</p><p>{PARAS[i]}</p>" for i in range(3))
    html = page(f"<h1>首席投资官们这么说</h1><div class='article'>{qa}</div>", title="首席投资官们这么说_某某网")
    art = extract_html(html)
    assert art.body.count("债券市场存在泡沫吗？") == 3


def test_feed_after_the_editor_line_is_not_the_article():
    # most of the text is above the editor line; a short feed of teasers follows it
    feed = "".join(f"<p>推荐文章第{i}条，与本文无关。</p><p>2019-09-09 21:38:04</p>" for i in range(3))
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>{PARAS[0]}</p><p>{PARAS[1]}</p><p>{PARAS[2]}</p>
<p>责任编辑：郭明煜</p>{feed}</div>""", title="首席投资官们这么说_某某财经")
    art = extract_html(html)
    assert art.body.split("\n") == PARAS
    assert "郭明煜" in art.authors


def test_picture_captions_and_date_boxes_are_not_prose():
    html = page(f"""<h1>港特首就住宅违建事件道歉</h1><div class="bodytext">
<div class="time"><span>2019</span><br><span>09/07</span><br><span>19:02</span></div>
<div class="image"><img src="a.jpg" alt=""><p class="caption">梁振英同时遭到泛民主派和亲北京阵营议员质问。</p></div>
<p>{PARAS[0]}</p><p>{PARAS[1]}</p></div>""", title="港特首就住宅违建事件道歉_某某网")
    art = extract_html(html)
    assert art.body.split("\n") == PARAS[:2]


def teasers(n: int, topic: str) -> str:
    return "".join(f'<p><a href="/t{topic}{i}.html">{topic}动态第{i}条 市场继续关注后续走势</a></p>' for i in range(n))


def test_headings_of_link_lists_inside_the_article_are_dropped():
    # a promo box inside the article's container: section labels over teaser links only
    promo = (f"<div><h3>重点推荐</h3><span>{teasers(1, '更多')}</span></div>"
             f"<p><b>证券要闻</b></p>{teasers(1, '证券')}<p><b>公司新闻</b></p>{teasers(1, '公司')}")
    story = "".join(f"<p>{p}</p>" for p in PARAS)
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article">{story}
{promo}</div>""", title="首席投资官们这么说_某某财经")
    art = extract_html(html)
    assert art.body.split("\n") == PARAS


def test_subheading_over_a_linked_byline_and_a_closing_date_stay():
    # "沪指有望重返4200点" heads a linked analyst line and then prose; "2015年7月3日" closes a
    # statement; the analyst line itself (a linked name in a short plain line) is the story's too
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>{PARAS[0]}</p>
<p><b>沪指有望重返4200点</b></p><p><a href="/q/600369">西南证券</a> 张刚</p><p>{PARAS[1]}</p>
<p>{PARAS[2]}</p><p>2015年7月3日</p>{teasers(2, '证券')}</div>""", title="首席投资官们这么说_某某财经")
    art = extract_html(html)
    assert art.body.split("\n") == [PARAS[0], "沪指有望重返4200点", "西南证券 张刚", PARAS[1], PARAS[2], "2015年7月3日"]


def test_byline_line_under_a_column_label_is_metadata():
    # a blog column's label and issue number come before the "name date counter" line
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>亦观察</p><p>No.550</p>
<p>maomaobear 2015-06-19 11:20:11 0人参与评论</p><p>{PARAS[0]}</p><p>{PARAS[1]}</p></div>""",
                title="首席投资官们这么说_某某财经")
    art = extract_html(html)
    assert art.body.split("\n") == ["亦观察", "No.550", PARAS[0], PARAS[1]]


def test_sentence_the_story_repeats_stays_a_copied_one_goes():
    # a figure restated among the story's own paragraphs stays; a summary box above the story
    # (another container) and a copied passage (its neighbours repeat too) are shown twice
    figure = "截至6月30日，A股总市值已增至58.46万亿元，6000亿元养老基金仅约为A股总市值的1%。"
    html = page(f"""<h1>首席投资官们这么说</h1><div class="summary"><p>{PARAS[0]}</p></div>
<div class="article"><p>{PARAS[0]}</p><p>{figure}</p><p>{PARAS[1]}</p><p>{figure}</p>
<p>{PARAS[2]}</p></div>""", title="首席投资官们这么说_某某财经")
    art = extract_html(html)
    assert art.body.split("\n") == [PARAS[0], figure, PARAS[1], figure, PARAS[2]]
    copied = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>{PARAS[0]}</p><p>{PARAS[1]}</p>
<p>{PARAS[2]}</p><p>{PARAS[0]}</p><p>{PARAS[1]}</p><p>{PARAS[2]}</p></div>""", title="首席投资官们这么说_某某财经")
    assert extract_html(copied).body.split("\n") == PARAS


def test_linked_subheads_of_a_digest_stay_ads_and_poster_names_go():
    # a digest's items are headed by links to the full stories, each taken up by its paragraph;
    # a text ad and a poster's linked name over a reply share nothing with the prose below them
    items = [("证监会：继续推进长期资金入市",
              "证监会新闻发言人3日表示，证监会一直在支持养老基金等各类长期资金入市，下一步将继续推进各类长期资金的入市。"),
             ("证监会已查明6起编造虚假信息案",
              "证监会新闻发言人3日介绍，已经查明6起编造虚假信息案件的违法事实，并将有关机构和个人依法移送公安机关。")]
    digest = "".join(f'<p><a href="/n{i}.html">{h}</a></p><p>{p}</p>' for i, (h, p) in enumerate(items))
    html = page(f"""<h1>证监会例行发布会新闻汇总</h1><div class="article"><p>{PARAS[0]}</p>{digest}
<p><a href="http://mail.example.com/">立刻注册免费邮箱，激活1G空间</a></p><p>{PARAS[1]}</p>
<p><a href="/u/duscha">duscha</a></p><p>{PARAS[2]}</p></div>""", title="证监会例行发布会新闻汇总_某某财经")
    art = extract_html(html)
    assert art.body.split("\n") == [PARAS[0], *[x for item in items for x in item], PARAS[1], PARAS[2]]


def test_syndication_promo_line_is_furniture():
    promo = "本文来源：环球时报-环球网 。更多精彩，请登录环球网 http://www.huanqiu.com"
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>{PARAS[0]}</p><p>{PARAS[1]}</p>
<p>{promo}</p></div>""", title="首席投资官们这么说_某某财经")
    art = extract_html(html)
    assert art.body.split("\n") == PARAS[:2]
    assert art.source == "环球时报-环球网"


def test_one_paragraph_story_keeps_its_lead_in_line():
    # the story is one paragraph and a short "以下为公告：" over an announcement picture: the
    # paragraph alone outscores its container, but the container adds no link or prose line
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>{PARAS[1]}</p><p>以下为公告：</p>
<p><img src="notice.jpg"></p><div>本文来源：某某日报</div></div>{teasers(6, '证券')}""",
                title="首席投资官们这么说_某某财经")
    art = extract_html(html)
    assert art.body.split("\n") == [PARAS[1], "以下为公告："]


def test_bracketed_link_between_paragraphs_is_no_byline():
    # "【专题】" around a link is punctuation, not a name beside it: the line is still a link
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>{PARAS[0]}</p>
<p>【<a href="/zt/lh.html">两会专题</a>】</p><p>{PARAS[1]}</p></div>""", title="首席投资官们这么说_某某财经")
    assert extract_html(html).body.split("\n") == PARAS[:2]


def test_related_items_with_their_dates_are_a_link_list():
    # "·<a>headline</a> (2005-04-27 14:32PM)": the stamp is as long as the headline, so by
    # characters the line is half unlinked; it is still an item of a related-news list
    items = "".join(f'<div>·<a href="/n{i}.html">明星挨打事件回顾第{i}篇</a> <span>(2005-04-2{i} 14:32PM)</span></div>'
                    for i in range(6))
    counts = "".join(f'<p><a href="/c{i}.html">证监会怒了！严打恶意做空第{i}弹</a> 评论546{i}条</p>' for i in range(3))
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article">{"".join(f"<p>{p}</p>" for p in PARAS)}
<div><b>相关报道：</b></div>{items}{counts}</div>""", title="首席投资官们这么说_某某娱乐")
    assert extract_html(html).body.split("\n") == PARAS
    # a message board's follow-ups: linked title, poster, "09:02:51 5/23/06", size or "(无内容)"
    follow = "".join(f'<li><a href="54{i}.html">关于亲子的讨论第{i}帖</a> <b>馨语</b> <i>09:0{i}:51 5/23/06</i> ({i}67)</li>'
                     for i in range(3))
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article">{"".join(f"<p>{p}</p>" for p in PARAS)}
<ul>{follow}<li><a href="550.html">空帖</a> <b>馨语</b> <i>09:09:45 5/23/06</i> (无内容)</li></ul></div>""",
                title="首席投资官们这么说_某某论坛")
    assert extract_html(html).body.split("\n") == PARAS
    # a paragraph that closes with a date keeps it, and so does a line with a short link in it
    dated = f'<p>{PARAS[2]}</p><p>详见<a href="/notice.html">公司公告</a>原文及附件说明 2015-07-03</p>'
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>{PARAS[0]}</p><p>{PARAS[1]}</p>{dated}</div>""",
                title="首席投资官们这么说_某某财经")
    assert extract_html(html).body.split("\n")[-1] == "详见公司公告原文及附件说明 2015-07-03"


def test_login_dialog_is_furniture():
    # a favourites button's dialog rendered into the page; a story about logging in stays
    story = "市民登录政务服务网后即可在线办理营业执照，全程不用跑腿，当天就能拿到电子证照。"
    html = page(f"""<h1>首席投资官们这么说</h1><div class="article"><p>{PARAS[0]}</p><p>{story}</p>
<div><p>您还未登录，请登录后进行收藏！</p><p>是否“确认”跳转到登录页？</p></div><p>{PARAS[1]}</p></div>""",
                title="首席投资官们这么说_某某新闻")
    assert extract_html(html).body.split("\n") == [PARAS[0], story, PARAS[1]]
