#!/usr/bin/env python3
"""Round 3 augmentation: benign prompts in languages other than English.

Writes crates/portcullis-guard/data/augment-r3.jsonl. Every text is hand-written here
(no row of any split was copied or paraphrased). Why: in the training split, text in
Hindi, Arabic, Japanese, Korean, Vietnamese, Spanish or French is mostly injection
(machine-translated CyberSecEval cases) and rarely benign, so the injection head learns
"not English" as evidence of an attack and flags ordinary foreign-language prompts (on
dev, half of the highest-scoring benign rows were non-English). These rows are ordinary
requests of many kinds (coding, maths, writing, advice, translation, character
role-play, questions about society), each in its own language.

Run: python3 crates/portcullis-guard/data/make_augment_r3.py  (deterministic).
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("augment-r3.jsonl")

B = {
    "de": [
        "Wie viele Einwohner hat München ungefähr?",
        "Kannst du mir ein einfaches Rezept für Kartoffelsuppe geben?",
        "Welche Parteien sitzen derzeit im Bundestag und wofür stehen sie?",
        "Erkläre mir bitte den Unterschied zwischen Miete und Pacht.",
        "Schreibe eine kurze Geburtstagskarte für meine Oma, sie wird 90.",
        "Was sind die Vor- und Nachteile von Wärmepumpen im Altbau?",
        "Wie berechne ich die Fläche eines Kreises mit dem Radius 4 cm?",
        "Ist es sinnvoll, im Winter die Reifen zu wechseln, auch wenn kaum Schnee liegt?",
        "Fasse die Handlung von Goethes Faust in fünf Sätzen zusammen.",
        "Welche Rolle spielt die Europäische Zentralbank bei der Inflation?",
        "Schreib mir eine Python-Funktion, die prüft, ob ein Wort ein Palindrom ist.",
        "Warum streiken die Lokführer schon wieder?",
        "Wie kann ich meinem Hund beibringen, nicht an der Leine zu ziehen?",
        "Was bedeutet der Begriff Energiewende?",
        "Ich habe morgen ein Vorstellungsgespräch als Buchhalterin. Welche Fragen sollte ich vorbereiten?",
        "Du bist ein freundlicher Reiseführer in Hamburg. Was empfiehlst du für einen Regentag?",
        "Welche Folgen hatte die Wiedervereinigung für die ostdeutsche Wirtschaft?",
        "Übersetze bitte ins Englische: Der Zug hat zwanzig Minuten Verspätung.",
        "Wie funktioniert die Briefwahl in Deutschland?",
        "Gibt es gesunde Alternativen zu Zucker beim Backen?",
    ],
    "fr": [
        "Quelle est la meilleure saison pour visiter la Bretagne ?",
        "Peux-tu m'expliquer comment fonctionne l'impôt sur le revenu en France ?",
        "Écris un petit poème sur la pluie à Paris.",
        "Comment faire une pâte à crêpes sans grumeaux ?",
        "Quelles sont les causes principales de la Révolution française ?",
        "Écris une fonction JavaScript qui inverse une chaîne de caractères.",
        "Mon fils de 8 ans ne veut pas lire. Des conseils ?",
        "Résume-moi le roman « L'Étranger » de Camus.",
        "Quelle est la différence entre un CDD et un CDI ?",
        "Joue le rôle d'un serveur dans un café parisien et prends ma commande.",
        "Combien font 15 % de 240 euros ?",
        "Comment rédiger une lettre de motivation pour un stage en marketing ?",
        "Pourquoi le ciel est-il bleu ?",
        "Quels exercices faire pour soulager le mal de dos ?",
        "Traduis en espagnol : « Nous arriverons demain matin. »",
        "Que penses-tu de la réforme des retraites ?",
        "Propose-moi un menu végétarien pour un dîner de six personnes.",
        "Explique la photosynthèse à un enfant de dix ans.",
    ],
    "es": [
        "¿Cuál es la capital de Australia?",
        "Dame una receta fácil de tortilla de patatas.",
        "Explícame qué es la inflación con un ejemplo sencillo.",
        "Escribe un cuento corto sobre un gato que vive en una biblioteca.",
        "¿Cómo puedo mejorar mi pronunciación en inglés?",
        "Escribe una consulta SQL que devuelva los diez clientes con más pedidos.",
        "¿Qué documentos necesito para renovar el pasaporte en España?",
        "Resume la historia de la independencia de México.",
        "Actúa como un entrenador personal y hazme un plan de tres días por semana.",
        "¿Por qué se caen las hojas de los árboles en otoño?",
        "Necesito ideas para el cumpleaños de mi hija de seis años.",
        "¿Cuántos litros hay en un metro cúbico?",
        "¿Qué opinas de la energía nuclear como alternativa al carbón?",
        "Corrige la ortografía de este texto: ayer fuimos a la playa y hacia mucho calor.",
        "Explica la diferencia entre ser y estar para un estudiante extranjero.",
        "¿Cómo funciona un motor eléctrico?",
        "Tengo un error en Python: 'list index out of range'. ¿Qué significa?",
        "Recomiéndame tres novelas latinoamericanas clásicas.",
    ],
    "pt": [
        "Qual é a diferença entre um vírus e uma bactéria?",
        "Me dá uma receita de pão de queijo.",
        "Escreva um e-mail educado pedindo um dia de folga ao meu chefe.",
        "Como funciona o sistema eleitoral brasileiro?",
        "Quais são os pontos turísticos mais bonitos de Lisboa?",
        "Explique o que é uma função recursiva com um exemplo em Java.",
        "Quanto é 3/4 mais 2/3?",
        "Faça um resumo de Dom Casmurro.",
        "Finja que você é um guia de museu e me apresente a sala de arte moderna.",
        "Como posso economizar na conta de luz?",
        "O que causou a crise econômica de 2008?",
        "Quais vacinas um adulto deve tomar?",
        "Escreva um poema sobre o mar de Salvador.",
        "Como faço para plantar manjericão em apartamento?",
    ],
    "it": [
        "Qual è la differenza tra il Barocco e il Rinascimento?",
        "Scrivi una ricetta semplice per il risotto ai funghi.",
        "Come si calcola la media ponderata?",
        "Riassumi la trama dei Promessi Sposi.",
        "Fai finta di essere un sommelier e consigliami un vino per la pizza.",
        "Come posso preparare un colloquio di lavoro in inglese?",
        "Scrivi una funzione in C che conti le vocali in una stringa.",
        "Perché Venezia rischia di affondare?",
        "Quali sono i sintomi dell'influenza?",
        "Traduci in francese: domani pioverà tutto il giorno.",
    ],
    "ru": [
        "Какая самая длинная река в Европе?",
        "Объясни, как работает сложный процент.",
        "Напиши рассказ о мальчике, который нашёл старую карту.",
        "Как приготовить борщ?",
        "Напиши функцию на Python, которая сортирует список словарей по ключу.",
        "В чём разница между Достоевским и Толстым как писателями?",
        "Как подготовиться к марафону за полгода?",
        "Почему зимой в Сибири так холодно?",
        "Представь, что ты гид по Санкт-Петербургу. Что посмотреть за один день?",
        "Какие книги по истории России ты посоветуешь?",
        "Помоги составить резюме для вакансии программиста.",
        "Сколько будет 17 умножить на 23?",
        "Как объяснить ребёнку, что такое дроби?",
        "Переведи на английский: я опоздал на автобус.",
        "Какие последствия имела перестройка?",
    ],
    "zh": [
        "请解释一下什么是区块链。",
        "帮我写一个Python函数，计算列表中所有偶数的和。",
        "北京有哪些适合周末去的地方？",
        "如何提高英语口语水平？",
        "写一首关于春天的七言绝句。",
        "你现在扮演一位茶艺师，给我介绍一下龙井茶的冲泡方法。",
        "为什么天空是蓝色的？",
        "请总结一下《红楼梦》的主要情节。",
        "一个长方形的长是8厘米，宽是5厘米，面积是多少？",
        "给我推荐几本关于心理学的入门书籍。",
        "如何做红烧肉？",
        "请帮我写一封辞职信，语气要礼貌。",
        "人工智能会取代程序员吗？谈谈你的看法。",
        "解释一下TCP和UDP的区别。",
        "我的孩子晚上总是不愿意睡觉，有什么办法吗？",
        "请把这句话翻译成英文：明天的会议改到下午三点。",
        "角色设定：你是一个住在江南小镇的书店老板，性格温和，喜欢讲故事。请用这个角色和我聊天。",
        "中国的高铁是如何发展起来的？",
    ],
    "ja": [
        "東京から大阪まで新幹線で何時間かかりますか？",
        "簡単なカレーライスの作り方を教えてください。",
        "Pythonでファイルを一行ずつ読み込む方法を教えて。",
        "俳句を一つ作ってください。テーマは夏祭りです。",
        "日本の消費税の仕組みについて説明してください。",
        "あなたは京都の老舗旅館の女将です。お客様として私を迎えてください。",
        "以下のキャラクター設定で会話してください。\n名前：ハル\n性格：明るくておしゃべり\n趣味：料理と散歩\n口調：です・ます調",
        "小学生向けに光合成を説明する文章を書いてください。",
        "転職活動で面接官によく聞かれる質問は何ですか？",
        "この文章を丁寧な敬語に直してください：明日は行けないです。",
        "円周率とは何ですか？",
        "ファンタジー小説の冒頭を書いてください。主人公は見習い魔法使いの少女です。",
        "睡眠の質を上げるコツを教えてください。",
        "戦国時代の有名な武将を三人挙げて、それぞれの特徴を教えて。",
        "JavaScriptのPromiseとasync/awaitの違いは何ですか？",
        "犬を飼い始めるときに準備するものリストを作って。",
        "次の英文を日本語に訳してください：The meeting has been moved to Friday.",
        "桜の開花はどうやって予想するのですか？",
    ],
    "ko": [
        "서울에서 부산까지 KTX로 얼마나 걸리나요?",
        "김치찌개 맛있게 끓이는 법을 알려주세요.",
        "파이썬에서 딕셔너리를 정렬하는 방법을 알려줘.",
        "가을을 주제로 짧은 시를 써 줘.",
        "한국의 전세 제도에 대해 설명해 주세요.",
        "너는 제주도의 여행 가이드야. 2박 3일 일정을 추천해 줘.",
        "면접에서 자기소개를 어떻게 하면 좋을까요?",
        "조선 시대 세종대왕의 업적을 정리해 줘.",
        "12의 제곱근은 얼마인가요?",
        "아이에게 책 읽는 습관을 길러 주는 방법이 있을까요?",
        "다음 문장을 영어로 번역해 주세요: 내일 비가 올 것 같아요.",
        "운동을 처음 시작하는 사람에게 좋은 루틴을 추천해 줘.",
    ],
    "vi": [
        "Thủ đô của Canada là thành phố nào?",
        "Hướng dẫn tôi cách nấu phở bò tại nhà.",
        "Giải thích định luật Ohm bằng ví dụ đơn giản.",
        "Viết một đoạn văn ngắn tả cảnh mùa thu ở Hà Nội.",
        "Làm thế nào để học tiếng Anh hiệu quả khi đi làm?",
        "Viết hàm JavaScript kiểm tra một số có phải số nguyên tố hay không.",
        "Tính diện tích hình tam giác có đáy 6 cm và chiều cao 4 cm.",
        "Hãy đóng vai một nhân viên lễ tân khách sạn và chào đón tôi.",
        "Những nguyên nhân chính của biến đổi khí hậu là gì?",
        "Tóm tắt truyện Kiều của Nguyễn Du.",
        "Tôi nên chuẩn bị gì cho chuyến đi Đà Lạt ba ngày?",
        "Giải phương trình 2x + 5 = 17.",
        "Làm sao để giữ bình tĩnh trước kỳ thi?",
        "Dịch sang tiếng Anh: Cuộc họp sẽ bắt đầu lúc chín giờ.",
    ],
    "id": [
        "Apa ibu kota provinsi Jawa Barat?",
        "Bagaimana cara membuat nasi goreng yang enak?",
        "Jelaskan perbedaan antara cuaca dan iklim.",
        "Tuliskan cerita pendek tentang seorang nelayan dan anaknya.",
        "Buatkan fungsi Python untuk menghitung faktorial.",
        "Berapa hasil dari 45 dibagi 9?",
        "Apa saja tips menabung untuk mahasiswa?",
        "Berperanlah sebagai pemandu wisata di Bali dan rekomendasikan tempat untuk dikunjungi.",
        "Mengapa Indonesia memiliki banyak gunung berapi?",
        "Terjemahkan ke bahasa Inggris: Saya sedang belajar memasak.",
        "Bagaimana cara menulis surat lamaran kerja yang baik?",
        "Sebuah toko memberi diskon 20% untuk baju seharga Rp150.000. Berapa harga setelah diskon?",
    ],
    "hi": [
        "भारत की राजधानी क्या है और वहाँ कौन-कौन सी प्रसिद्ध जगहें हैं?",
        "दाल मखनी बनाने की विधि बताइए।",
        "प्रकाश संश्लेषण को सरल शब्दों में समझाइए।",
        "मेरे दोस्त के जन्मदिन के लिए एक छोटी कविता लिखिए।",
        "पायथन में एक सूची को उल्टा कैसे करें?",
        "नौकरी के इंटरव्यू की तैयारी कैसे करें?",
        "25 का 40 प्रतिशत कितना होता है?",
        "आप एक अनुभवी शिक्षक हैं। मुझे भिन्नों के बारे में पढ़ाइए।",
        "मानसून भारत की खेती के लिए क्यों महत्वपूर्ण है?",
        "महात्मा गांधी के जीवन के बारे में संक्षेप में बताइए।",
        "अंग्रेज़ी में अनुवाद कीजिए: कल मैं बाज़ार जाऊँगा।",
        "अच्छी नींद के लिए क्या करना चाहिए?",
        "क्रिकेट के नियम आसान भाषा में समझाइए।",
        "एक छोटी कहानी लिखिए जिसमें एक बंदर और एक मगरमच्छ हों।",
    ],
    "ar": [
        "ما هي عاصمة المغرب؟",
        "كيف أحضّر الكبسة في المنزل؟",
        "اشرح لي الفرق بين الطقس والمناخ.",
        "اكتب قصة قصيرة عن طفل يحب النجوم.",
        "كيف أكتب دالة بلغة بايثون تحسب مجموع الأرقام في قائمة؟",
        "ما هي فوائد المشي اليومي؟",
        "كم يساوي ثلث العدد تسعين؟",
        "تخيّل أنك مرشد سياحي في القاهرة، ماذا تقترح أن أزور في يومين؟",
        "لخّص لي تاريخ الأندلس باختصار.",
        "كيف أستعد لمقابلة عمل في شركة تقنية؟",
        "ترجم إلى الإنجليزية: سأصل إلى المطار في الساعة الخامسة.",
        "ما هي أسباب التصحر في شمال أفريقيا؟",
        "اقترح أسماء لمقهى صغير في الحي.",
        "كيف أعلّم طفلي الحروف العربية بطريقة ممتعة؟",
    ],
    "tr": [
        "İstanbul'da görülmesi gereken yerler nelerdir?",
        "Mercimek çorbası nasıl yapılır?",
        "Python'da bir listeyi nasıl sıralarım?",
        "Kısa bir sonbahar şiiri yazar mısın?",
        "Enflasyon nedir, basitçe açıklar mısın?",
        "Bir otel resepsiyonisti gibi davran ve beni karşıla.",
        "Türkiye Cumhuriyeti ne zaman kuruldu?",
        "İngilizceye çevir: Yarın sabah erkenden yola çıkacağız.",
    ],
    "pl": [
        "Jakie są najpiękniejsze miejsca w Krakowie?",
        "Podaj przepis na pierogi ruskie.",
        "Wyjaśnij, czym jest fotosynteza.",
        "Napisz funkcję w Javie, która sprawdza, czy liczba jest parzysta.",
        "Udawaj przewodnika po Gdańsku i opowiedz mi o starym mieście.",
        "Jak przygotować się do rozmowy kwalifikacyjnej?",
        "Przetłumacz na angielski: Spotkanie zostało przełożone na piątek.",
        "Dlaczego bałtyk jest mniej słony niż inne morza?",
    ],
}

# Code with comments in other languages (ordinary code, nothing addressed to the AI).
CODE = [
    ("de", "# Berechnet den Durchschnitt der Werte\ndef mittelwert(werte):\n    # leere Liste abfangen\n    if not werte:\n        return 0\n    return sum(werte) / len(werte)\n\nWarum gibt diese Funktion bei ganzen Zahlen manchmal Nachkommastellen zurück?"),
    ("es", "// Recorre el arreglo y suma los elementos positivos\nfunction sumaPositivos(arr) {\n  let total = 0;\n  for (const x of arr) {\n    if (x > 0) total += x; // ignora los negativos\n  }\n  return total;\n}\n¿Cómo puedo escribir esto con reduce?"),
    ("fr", "-- Sélectionne les commandes du mois dernier\nSELECT id, client, montant\nFROM commandes\nWHERE date_commande >= date_trunc('month', now()) - interval '1 month';\n-- ajouter un tri par montant ?\nPeux-tu optimiser cette requête ?"),
    ("ja", "# 設定ファイルを読み込む\nimport json\n\ndef load_config(path):\n    # ファイルが無い場合は空の辞書を返す\n    try:\n        with open(path) as f:\n            return json.load(f)\n    except FileNotFoundError:\n        return {}\n\nこのコードの改善点を教えてください。"),
    ("zh", "// 计算斐波那契数列的第n项\nint fib(int n) {\n    if (n < 2) return n; // 基本情况\n    return fib(n - 1) + fib(n - 2);\n}\n这个函数为什么在n很大时很慢？怎么优化？"),
    ("pt", "# Lê o arquivo CSV e calcula o total de vendas por mês\nimport pandas as pd\ndf = pd.read_csv('vendas.csv')\n# agrupar por mês\nprint(df.groupby('mes')['valor'].sum())\nComo faço para ordenar o resultado do maior para o menor?"),
    ("ru", "# Проверяем, является ли строка палиндромом\ndef is_palindrome(s):\n    s = s.lower().replace(' ', '')  # убираем пробелы\n    return s == s[::-1]\nПочему эта функция не работает со знаками препинания?"),
    ("vi", "// Hàm tính tổng các phần tử trong mảng\nint tong(int a[], int n) {\n    int s = 0;\n    for (int i = 0; i < n; i++) s += a[i]; // cộng dồn\n    return s;\n}\nGiải thích giúp tôi vòng lặp này."),
    ("ko", "# 사용자 목록을 이름순으로 정렬\nusers = [{'name': '민수', 'age': 30}, {'name': '지영', 'age': 25}]\nusers.sort(key=lambda u: u['name'])\n# 나이순으로도 정렬하고 싶어요\n나이순으로 정렬하려면 어떻게 바꿔야 하나요?"),
    ("id", "// Mengecek apakah pengguna sudah login\nif (!user) {\n  // arahkan ke halaman login\n  window.location.href = '/login';\n}\nApakah cara ini aman untuk aplikasi web?"),
]

# Longer character/role-play set-ups and stories (the hard case: persona words, benign).
LONG = [
    ("ja", "キャラクター設定\n- 名前：ミナト\n- 年齢：25歳\n- 職業：港町のパン屋\n- 性格：穏やかで少し照れ屋。常連客の名前を全部覚えている。\n- 話し方：柔らかい関西弁\n\nこの設定でミナトとして、朝いちばんに来たお客さん（私）と会話してください。"),
    ("ja", "これからTRPGのゲームマスターをお願いします。舞台は剣と魔法の世界で、私は新米の冒険者です。最初の村の様子を描写して、私に行動を選ばせてください。"),
    ("zh", "请你扮演一位唐朝的诗人，名字叫李云。你说话文雅，喜欢引用古诗。我是一个来自现代的旅行者，刚刚来到长安。请以李云的身份欢迎我，并介绍一下长安城。"),
    ("ko", "지금부터 너는 조선 시대 한양의 주막 주인이야. 손님인 나에게 오늘의 음식과 요즘 한양에서 도는 소문을 이야기해 줘. 말투는 사극처럼 해 줘."),
    ("de", "Lass uns ein Rollenspiel machen: Du bist Kommissar Weber aus Köln, ruhig, gründlich und ein bisschen grummelig. Ich bin eine Zeugin, die etwas Merkwürdiges im Treppenhaus gesehen hat. Befrag mich."),
    ("es", "Vamos a jugar a un juego de rol. Tú eres el capitán de un barco pirata del siglo XVII, valiente pero justo, y yo soy un grumete recién llegado. Descríbeme el barco y dame mi primera tarea."),
    ("fr", "Tu es Madame Leclerc, professeure de français à la retraite, patiente et pleine d'humour. Je suis un élève étranger qui veut améliorer son oral. Pose-moi des questions simples et corrige mes fautes avec gentillesse."),
    ("ru", "Давай сыграем в ролевую игру. Ты — старый смотритель маяка на Белом море, немногословный, но добрый. Я — путешественник, которого застал шторм. Расскажи, что ты видишь в окно."),
    ("pt", "Vamos fazer um jogo de interpretação: você é Dona Lúcia, dona de uma pensão em Ouro Preto nos anos 50, muito curiosa e faladeira. Eu sou um hóspede que acabou de chegar. Me receba."),
    ("vi", "Hãy đóng vai bà Năm, chủ một quán chè nhỏ ở Huế, hiền lành và thích kể chuyện xưa. Tôi là khách du lịch lần đầu đến Huế. Hãy giới thiệu các món chè của quán."),
    ("ar", "لنلعب لعبة أدوار: أنت تاجر توابل في سوق دمشق القديم، ودود وتحب الحديث عن تاريخ السوق. أنا زائر أجنبي. رحّب بي واشرح لي أنواع التوابل."),
    ("hi", "चलिए एक खेल खेलते हैं: आप बनारस के घाट पर बैठे एक बुज़ुर्ग नाविक हैं जो गंगा की कहानियाँ सुनाते हैं। मैं एक पर्यटक हूँ। मुझे नाव की सैर कराइए और शहर के बारे में बताइए।"),
    ("id", "Mari bermain peran: kamu adalah Pak Darto, penjual bakso keliling di Yogyakarta yang ramah dan suka bercanda. Aku adalah mahasiswa baru di kota ini. Sapa aku dan ceritakan tentang dagangannmu."),
    ("it", "Facciamo un gioco di ruolo: tu sei Nonna Rosa, una cuoca siciliana molto affettuosa, e io sono tuo nipote che vuole imparare a fare le arancine. Spiegami passo per passo cosa fare."),
]

rows = []


def add(lang, kind, text):
    rows.append({"id": f"augment-r3-{lang}-{kind}-{len(rows)}", "text": text, "label": "benign",
                 "source": f"augment-r3-{lang}"})


for lang, texts in B.items():
    for t in texts:
        add(lang, "q", t)
for lang, t in CODE:
    add(lang, "code", t)
for lang, t in LONG:
    add(lang, "roleplay", t)
random.Random(3).shuffle(rows)
with OUT.open("w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"wrote {len(rows)} rows to {OUT}")
